/**
 * How every NATS client of the benchmarks connects. By default nats.js captures a stack trace for
 * every request in case it fails (an Error when it starts, a NatsError when it ends): about a
 * fifth of a publisher's CPU at depth. The gateway turns it off (bus/jetstream); its peers here
 * do too, so that each side is measured at its best.
 */
export const NATS_CLIENT_OPTIONS = { noAsyncTraces: true } as const;
