/**
 * The HTTP side's pure parts: quantiles from histogram buckets (as Prometheus computes them), the
 * chart's per-second samples, per-stream write rates, and the options' checks.
 */
import t from 'tap';
import { bucketDelta, bucketQuantile } from '../../src/server/http/bucket-quantile.js';
import { resolveHttpOptions } from '../../src/server/http/http-options.js';
import { HISTORY_SECONDS, RateHistory, type RateReading } from '../../src/server/http/rate-history.js';

t.test('bucketQuantile interpolates inside the bucket the rank falls in, like histogram_quantile', async (t) => {
  const inf = Number.POSITIVE_INFINITY;
  t.equal(bucketQuantile(0.99, [{ le: 1, count: 0 }, { le: inf, count: 0 }]), null, 'no observations: null');
  // 100 observations: 50 ≤ 1, 40 in (1, 2], 10 in (2, 4].
  const buckets = [{ le: 1, count: 50 }, { le: 2, count: 90 }, { le: 4, count: 100 }, { le: inf, count: 100 }];
  t.equal(bucketQuantile(0.5, buckets), 1);
  t.equal(bucketQuantile(0.7, buckets), 1.5);
  t.equal(bucketQuantile(0.95, buckets), 3);
  t.equal(bucketQuantile(0.99, [{ le: 1, count: 10 }, { le: inf, count: 100 }]), 1, 'above the highest finite bound: that bound');
  t.same(bucketDelta([{ le: 1, count: 7 }, { le: inf, count: 9 }], [{ le: 1, count: 5 }, { le: inf, count: 5 }]), [{ le: 1, count: 2 }, { le: inf, count: 4 }]);
});

t.test('RateHistory: one sample per tick with rates and the p99 of that interval, bounded', async (t) => {
  let reading: RateReading = { writes: 0, delivered: 0, latency: [{ le: 0.001, count: 0 }, { le: 0.01, count: 0 }, { le: Number.POSITIVE_INFINITY, count: 0 }] };
  const history = new RateHistory(() => reading);
  history.tick(0);
  reading = { writes: 500, delivered: 200, latency: [{ le: 0.001, count: 99 }, { le: 0.01, count: 100 }, { le: Number.POSITIVE_INFINITY, count: 100 }] };
  history.tick(500);
  const [sample] = history.since(0);
  t.equal(sample!.writesPerSecond, 1000, '500 writes in half a second');
  t.equal(sample!.consumedPerSecond, 400);
  t.equal(sample!.appendP99Ms, 1, 'p99 of the interval, in ms');
  reading = { ...reading, writes: 600 };
  history.tick(1500);
  t.equal(history.since(500).length, 1, 'since: only later samples');
  t.equal(history.since(500)[0]!.appendP99Ms, null, 'no appends made durable: no latency');
  for (let i = 0; i < HISTORY_SECONDS + 50; i++) history.tick(2000 + i * 1000);
  t.equal(history.since(0).length, HISTORY_SECONDS, 'memory is bounded');
});

t.test('RateHistory: per-stream write rates from the server\'s own samples, whoever asks when', async (t) => {
  let marks = new Map([['a', { id: 'A', nextOffset: 0 }]]);
  const history = new RateHistory(() => ({ writes: 0, delivered: 0, latency: [] }), 1000, () => marks);
  const at = (offset: number, id = 'A') => new Map([['a', { id, nextOffset: offset }]]);
  history.tick(0);
  t.equal(history.streamWriteRates(at(50), 500).get('a'), 0, 'sampled less than a second ago: no rate yet');
  t.equal(history.streamWriteRates(at(300), 2000).get('a'), 150, 'younger than the window: from the oldest sample');
  // Idle for 20 s, sampled every second; then 100 events/s for 6 s.
  for (let s = 1; s <= 20; s++) history.tick(s * 1000);
  for (let s = 21; s <= 26; s++) {
    marks = at((s - 20) * 100);
    history.tick(s * 1000);
  }
  t.equal(history.streamWriteRates(at(650), 26_500).get('a'), 100, 'the rate of the last 5 to 6 s, however long since anyone asked');
  marks = at(5, 'B');
  history.tick(27_000);
  t.equal(history.streamWriteRates(at(5, 'B'), 27_500).get('a'), 0, 'a stream deleted and made again starts over');
  t.equal(history.streamWriteRates(at(205, 'B'), 29_000).get('a'), 100, 'measured from its own first sample');
  t.notOk(history.streamWriteRates(new Map(), 30_000).has('a'), 'deleted streams have no rate');
});

t.test('resolveHttpOptions fills defaults, takes the server host, and refuses bad values', async (t) => {
  const resolved = resolveHttpOptions({ port: 0 }, '127.0.0.2');
  t.equal(resolved.host, '127.0.0.2', 'the TCP host by default');
  t.equal(resolved.maxHeaderBytes, 16 * 1024);
  t.equal(resolved.maxLabelledStreams, 100);
  t.throws(() => resolveHttpOptions({ port: 70000 }, 'h'), { code: 'INVALID_FIELD' });
  t.throws(() => resolveHttpOptions({ port: 0, maxConnections: 0 }, 'h'), { code: 'INVALID_FIELD', message: /maxConnections/ });
  t.throws(() => resolveHttpOptions({ port: 0, maxBodyBytes: 1.5 }, 'h'), { code: 'INVALID_FIELD' });
});
