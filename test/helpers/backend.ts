/**
 * The storage backend the suites run against: `engine` (default) or `jetstream` when
 * test/jetstream/suites.test.ts runs them on a NATS cluster (EVENTBUS_TEST_BACKEND). Used only
 * where docs/protocol.md lists a difference of the jetstream backend.
 */
export const TEST_BACKEND: 'engine' | 'jetstream' = process.env.EVENTBUS_TEST_BACKEND === 'jetstream' ? 'jetstream' : 'engine';
export const onJetStream = TEST_BACKEND === 'jetstream';
/** Several gateways behind a TCP balancer: the port stays open when one server closes. */
export const behindBalancer = onJetStream && Number(process.env.EVENTBUS_TEST_GATEWAYS ?? '1') > 1;
