/**
 * The key index's in-memory parts on their own: the cache of keys' newest versions stays within
 * its byte bound and keeps a key used since it was added over one that was not (second chance),
 * and the memtable's flush order is (hash, version) for any mix of keys.
 */
import t from 'tap';
import { hashKey } from '../../src/storage/format/key-hash.js';
import { KeyCache } from '../../src/storage/keys/key-cache.js';
import { KeyMemtable } from '../../src/storage/keys/key-memtable.js';

t.test('the cache stays within its bound and evicts what was not used first', async (t) => {
  const cache = new KeyCache(64 * 1024);
  // Fill until the bound evicts: key-0, the oldest, is next to go.
  let k = 0;
  while (cache.get(1, 'key-0') !== undefined || k === 0) {
    cache.set(1, `key-${k}`, k, k * 10);
    k++;
    if (k === 1) continue;
    if (cache.size < k) break;
  }
  // The loop's get() used key-0: the next evictions pass it over for key-1, which was never used.
  for (let extra = 0; extra < 3; extra++) cache.set(1, `key-${k + extra}`, k, k);
  t.equal(cache.get(1, 'key-0')?.version, 0, 'an entry used since it was added gets a second chance');
  t.equal(cache.get(1, 'key-1'), undefined, 'an older one never used is evicted first');
  for (let more = 0; more < 5000; more++) {
    cache.set(1, `more-${more}`, more, more);
    if (cache.bytes > cache.maxBytes) t.fail(`the cache holds ${cache.bytes} bytes, over ${cache.maxBytes}`);
  }
  t.ok(cache.size < 5000, `${cache.size} entries kept, within ${cache.maxBytes} bytes`);
  t.equal(cache.get(1, 'more-4999')?.version, 4999, 'the newest entry is kept');
  t.equal(cache.get(2, 'more-4999'), undefined, 'entries are per stream');
  cache.set(1, 'more-4999', 5000, 1);
  t.same({ ...cache.get(1, 'more-4999')!, used: undefined }, { version: 5000, offset: 1, used: undefined }, 'an update replaces the state');
  // Filters' reservations take from the entries' share.
  t.ok(cache.reserve(16 * 1024));
  t.ok(cache.bytes + cache.reservedBytes <= cache.maxBytes, 'a reservation evicts entries to fit');
  t.notOk(cache.reserve(32 * 1024), 'filters get at most half the bound');
});

t.test("the memtable's flush order is (hash, version), entries of a hash in version order", async (t) => {
  const memtable = new KeyMemtable();
  const keys = Array.from({ length: 3000 }, (_, k) => `order-${(k * 7919) % 100_003}`);
  const versions = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) {
    const key = keys[(i * 31) % keys.length]!;
    const version = versions.get(key) ?? 0;
    versions.set(key, version + 1);
    const { hi, lo } = hashKey(Buffer.from(key, 'utf8'));
    memtable.add(hi, lo, version, i);
  }
  const order = memtable.sortedPrefix(15_000);
  t.equal(order.length, 15_000);
  t.equal(new Set(order).size, 15_000, 'each entry once');
  let problems = 0;
  for (let k = 0; k < order.length; k++) {
    if (order[k]! >= 15_000) problems++;
    if (k === 0) continue;
    const a = order[k - 1]!;
    const b = order[k]!;
    const byHash = memtable.hashHiOf(a) - memtable.hashHiOf(b) || memtable.hashLoOf(a) - memtable.hashLoOf(b);
    if (byHash > 0 || (byHash === 0 && memtable.version(a) > memtable.version(b))) problems++;
  }
  t.equal(problems, 0, 'sorted by hash (unsigned), then version, and only the prefix');
});
