/**
 * Leader affinity (src/bus/jetstream/leader-affinity.ts): a stream's new write lane takes the
 * publisher on its leader's node once the leader is known, round robin before that and when no
 * connection is on that node; the leader is read in the background, once at a time, and again
 * after LEADER_TTL_MS; missing nodes are asked for; what it remembers is bounded. (On a real
 * cluster: write-path.test.ts.)
 */
import t from 'tap';
import { LEADER_TTL_MS, LeaderAffinity, MAX_LEADERS, RECONNECT_INTERVAL_MS, type PlacedPublisher } from '../../src/bus/jetstream/leader-affinity.js';
import type { PubAckPublish } from '../../src/bus/jetstream/pub-ack-publisher.js';

function publisher(name: string): PubAckPublish & { name: string } {
  return { name, publish: () => Promise.reject(new Error('not used')) };
}

function placedOn(...nodes: (string | undefined)[]): (PlacedPublisher & { node: string | undefined })[] {
  return nodes.map((node, i) => {
    const p = { node, publisher: publisher(`p${i}`), serverName: () => p.node };
    return p;
  });
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test('the leader is read in the background; then lanes go to its node', async (t) => {
  const placed = placedOn('n1', 'n2', 'n3');
  const reads: string[] = [];
  let leader = 'n3';
  const affinity = new LeaderAffinity(placed, (name) => {
    reads.push(name);
    return Promise.resolve(leader);
  });
  t.equal(affinity.pick('s'), placed[0]!.publisher, 'unknown yet: the next in turn, without waiting');
  t.equal(affinity.pick('s'), placed[1]!.publisher, 'still unknown: round robin');
  t.same(reads, ['s'], 'one read at a time');
  await tick();
  for (let i = 0; i < 5; i++) t.equal(affinity.pick('s'), placed[2]!.publisher, 'known: the leader node\'s publisher');
  t.same(reads, ['s'], 'not read again within the TTL');

  leader = 'n1';
  const realNow = Date.now;
  t.teardown(() => (Date.now = realNow));
  const later = realNow() + LEADER_TTL_MS + 1;
  Date.now = () => later;
  t.equal(affinity.pick('s'), placed[2]!.publisher, 'past the TTL: the old leader until the new read answers');
  await tick();
  t.equal(affinity.pick('s'), placed[0]!.publisher, 'then the new leader');
  t.same(reads, ['s', 's']);
});

t.test('no connection on the leader\'s node, or no leader: round robin', async (t) => {
  const placed = placedOn('n1', 'n2');
  const affinity = new LeaderAffinity(placed, (name) => (name === 'gone' ? Promise.reject(new Error('STREAM_NOT_FOUND')) : Promise.resolve(name === 'leaderless' ? undefined : 'n3')));
  for (const name of ['s', 'leaderless', 'gone']) affinity.pick(name);
  await tick();
  await tick();
  const picks = ['s', 'leaderless', 'gone', 's'].map((name) => (affinity.pick(name) as unknown as { name: string }).name);
  t.same(picks, ['p1', 'p0', 'p1', 'p0'], 'in turn');
});

t.test('a connection that moved to the leader\'s node (a reconnect) is found there', async (t) => {
  const placed = placedOn('n1', undefined);
  const affinity = new LeaderAffinity(placed, () => Promise.resolve('n2'));
  affinity.pick('s');
  await tick();
  const name = (p: PubAckPublish) => (p as unknown as { name: string }).name;
  t.same([affinity.pick('s'), affinity.pick('s')].map(name).sort(), ['p0', 'p1'], 'nobody on n2: in turn');
  placed[1]!.node = 'n2';
  t.same([affinity.pick('s'), affinity.pick('s'), affinity.pick('s')].map(name), ['p1', 'p1', 'p1'], 'once one is there, always it');
});

t.test('a leader on a node nobody is on asks for the missing nodes, at most every RECONNECT_INTERVAL_MS', async (t) => {
  const placed = placedOn('n1');
  let asked = 0;
  const affinity = new LeaderAffinity(placed, () => Promise.resolve('n2'), () => (asked += 1));
  affinity.pick('s');
  await tick();
  t.equal(asked, 0, 'nothing asked while the leader is unknown');
  affinity.pick('s');
  affinity.pick('s');
  t.equal(asked, 1, 'asked once');
  const realNow = Date.now;
  t.teardown(() => (Date.now = realNow));
  const later = realNow() + RECONNECT_INTERVAL_MS;
  Date.now = () => later;
  affinity.pick('s');
  t.equal(asked, 2, 'and again after the interval');
  const onN2 = placedOn('n2')[0]!;
  affinity.add(onN2);
  t.equal(affinity.pick('s'), onN2.publisher, 'a connection added on the leader\'s node takes its lanes');
  t.equal(asked, 2);
});

t.test('the leaders remembered are bounded', async (t) => {
  const affinity = new LeaderAffinity(placedOn('n1'), () => Promise.resolve('n1'));
  for (let i = 0; i < MAX_LEADERS + 10; i++) affinity.pick(`s${i}`);
  await tick();
  t.ok(affinity.remembered <= MAX_LEADERS, `${affinity.remembered} remembered, at most ${MAX_LEADERS}`);
  t.ok(affinity.remembered > 0);
});
