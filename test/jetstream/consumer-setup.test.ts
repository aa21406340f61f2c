/**
 * A consumer's start and filter as a JetStream consumer config and back (no cluster needed: the
 * wire suite checks the deliveries on a real one, test/server/reads-and-settings.test.ts).
 */
import { AckPolicy, DeliverPolicy, type ConsumerConfig } from 'nats';
import t from 'tap';
import { consumerOfDescription, describeConsumer, filterOf, resumedConfig, setupConfig, startOf } from '../../src/bus/jetstream/consumer-setup.js';
import { configuredStart, resumePoint } from '../../src/bus/jetstream/consumer-resume.js';
import { jsConsumerName } from '../../src/bus/jetstream/names.js';
import type { ConsumerStart } from '../../src/storage/index.js';

const JS = 'EB_0000002a';
const next = (offset: number) => async () => offset;

t.test('each start maps to a deliver policy and reads back the same', async (t) => {
  const starts: [ConsumerStart, object][] = [
    [{ kind: 'all' }, { deliver_policy: DeliverPolicy.All }],
    [{ kind: 'new' }, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 11, declared: 'new' }],
    [{ kind: 'offset', offset: 0 }, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 }],
    [{ kind: 'offset', offset: 7 }, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 8 }],
    [{ kind: 'time', timeMs: Date.parse('2020-05-01T10:00:00.123Z') }, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: '2020-05-01T10:00:00.123Z' }],
  ];
  for (const [start, expected] of starts) {
    const config = await setupConfig(JS, start, undefined, next(10));
    t.same(config, expected, `${start.kind} as a config`);
    t.same(startOf(config, config.declared === undefined ? undefined : { kind: config.declared }), start, `${start.kind} read back`);
  }
  t.same(await setupConfig(JS, undefined, undefined, next(0)), { deliver_policy: DeliverPolicy.All }, 'no start: all');
});

t.test('a time still to come starts at the creation, as on the engine: as new', async (t) => {
  const config = await setupConfig(JS, { kind: 'time', timeMs: Date.now() + 60_000 }, undefined, next(0));
  t.same(config, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1, declared: 'new' });
});

t.test('an offset past the stream\'s next offset is INVALID_FIELD; up to it is allowed', async (t) => {
  await t.rejects(setupConfig(JS, { kind: 'offset', offset: 11 }, undefined, next(10)), { code: 'INVALID_FIELD', message: /past the stream's next offset \(10\)/ });
  t.same(await setupConfig(JS, { kind: 'offset', offset: 10 }, undefined, next(10)), { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 11 });
  let asked = 0;
  await setupConfig(JS, { kind: 'all' }, undefined, async () => (asked += 1));
  await setupConfig(JS, { kind: 'time', timeMs: 1000 }, undefined, async () => (asked += 1));
  t.equal(asked, 0, 'the stream\'s state is asked only for an offset or new start');
});

t.test('a key filter is the key\'s subject', async (t) => {
  for (const key of ['order-1', '', 'ü/ä.*>', 'k'.repeat(255)]) {
    const config = await setupConfig(JS, { kind: 'all' }, { key }, next(0));
    t.match(config.filter_subject, /^EB_0000002a\.k\.K/);
    t.same(filterOf(JS, config), { key }, `key ${JSON.stringify(key.slice(0, 10))} read back`);
  }
  t.equal(filterOf(JS, { filter_subject: '' }), null);
  t.equal(filterOf(JS, {}), null);
  t.same(filterOf(JS, {}, ['a']), { types: ['a'] });
  const both = await setupConfig(JS, { kind: 'all' }, { key: 'k', types: ['a'] }, next(0));
  t.same(filterOf(JS, both, ['a']), { key: 'k', types: ['a'] });
});

t.test('a types filter rides in the durable\'s description, beside the name', async (t) => {
  t.equal(describeConsumer('billing', undefined), 'billing', 'no types: the plain name, as before');
  t.same(consumerOfDescription(jsConsumerName('billing'), 'billing'), { name: 'billing' });
  const description = describeConsumer('billing', ['order-placed', 'ü']);
  t.same(consumerOfDescription(jsConsumerName('billing'), description), { name: 'billing', types: ['order-placed', 'ü'] });
  // A consumer whose own name is such JSON stays a plain name: the JSON names another durable.
  t.same(consumerOfDescription(jsConsumerName(description), description), { name: description });
  t.same(consumerOfDescription('C_x', undefined), { name: 'C_x' });
  t.throws(() => describeConsumer('c', Array.from({ length: 64 }, (_, i) => `${i}`.padEnd(100, 't'))), { code: 'NOT_SUPPORTED', message: /4096 bytes/ });
});

t.test('a restored new consumer resumes by sequence or time and still reads back as new, with its filter', async (t) => {
  const durable = jsConsumerName('billing');
  const restored = { durable_name: durable, name: durable, description: describeConsumer('billing', ['a']), deliver_policy: DeliverPolicy.New, ack_policy: AckPolicy.Explicit, filter_subject: `${JS}.k.Kaw`, ack_wait: 30_000_000_000 } as ConsumerConfig;
  const bySeq = resumedConfig(restored, { afterSeq: 4 });
  t.match(bySeq, { durable_name: durable, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 5, filter_subject: `${JS}.k.Kaw`, ack_wait: 30_000_000_000 });
  const described = consumerOfDescription(durable, bySeq.description);
  t.same(described, { name: 'billing', types: ['a'], start: { kind: 'new' } });
  t.same(startOf(bySeq, described.start), { kind: 'new' }, 'shown as new, not as an offset');
  t.same(filterOf(JS, bySeq, described.types), { key: 'k', types: ['a'] });
  const byTime = resumedConfig({ ...restored, description: 'billing' }, { fromTime: '2026-01-02T03:04:05.000Z' });
  t.match(byTime, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: '2026-01-02T03:04:05.000Z' });
  t.same(consumerOfDescription(durable, byTime.description), { name: 'billing', start: { kind: 'new' } }, 'a declared start alone is JSON too');
  t.throws(() => resumedConfig({ ...restored, description: 'billing', deliver_policy: DeliverPolicy.All }, { afterSeq: 1 }), { code: 'INTERNAL' });
  const made = { ...restored, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 3, description: describeConsumer('billing', ['a'], 'new') };
  t.match(resumedConfig(made, { afterSeq: 7 }), { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 8, description: made.description }, 'a durable made with start new (a sequence, declared new) is resumed too');
  t.same(consumerOfDescription(durable, '{"consumer":"billing","start":"all"}'), { name: '{"consumer":"billing","start":"all"}' }, 'only new is ever declared');
});

t.test('where a new consumer resumes: after its ack floor; with none, at its start (or, made as deliver policy new, after its cursor or from its creation)', async (t) => {
  const position = (ackFloor: [number, number], delivered: [number, number], policy: string) => ({ durable: 'C_x', deliver_policy: policy, created: '2026-01-02T03:04:05.000Z', ack_floor: { stream_seq: ackFloor[0], consumer_seq: ackFloor[1] }, delivered: { stream_seq: delivered[0], consumer_seq: delivered[1] } });
  const at = (ackFloor: [number, number], delivered: [number, number]) => resumePoint(position(ackFloor, delivered, 'new'));
  t.same(at([4, 1], [6, 3]), { afterSeq: 4 }, 'a floor: after it');
  t.same(at([0, 0], [3, 0]), { afterSeq: 3 }, 'nothing delivered: after its cursor, the stream\'s end at its creation');
  t.same(at([0, 0], [5, 2]), { fromTime: '2026-01-02T03:04:05.000Z' }, 'deliver policy new, its first delivery unacknowledged: from its creation');
  const start = configuredStart({ deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 3 });
  t.same(start, { afterSeq: 2 });
  t.same(resumePoint(position([0, 0], [5, 2], 'by_start_sequence'), start), { afterSeq: 2 }, 'made as a sequence, its first delivery unacknowledged: at its start, by sequence');
  t.same(resumePoint(position([4, 1], [6, 3], 'by_start_sequence'), start), { afterSeq: 4 }, 'made as a sequence, a floor: after it');
  t.equal(configuredStart({ deliver_policy: DeliverPolicy.New }), undefined);
  t.same(configuredStart({ deliver_policy: DeliverPolicy.StartTime, opt_start_time: '2026-01-02T03:04:05.000Z' }), { fromTime: '2026-01-02T03:04:05.000Z' });
});
