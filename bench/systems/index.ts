/** Every system the harness can run, by id, in the order tables list them. */
import { echo } from './echo.js';
import { eventbusAlways, eventbusInterval } from './eventbus.js';
import { nats } from './nats.js';
import { redisAlways, redisEverysec } from './redis.js';
import type { SystemDefinition, SystemId } from './system.js';

export const SYSTEMS: ReadonlyMap<SystemId, SystemDefinition> = new Map([eventbusAlways, eventbusInterval, redisAlways, redisEverysec, nats, echo].map((d) => [d.id, d]));

/** The peers each eventbus configuration is compared with, like for like on durability first. */
export const COMPARISONS: Readonly<Record<string, readonly SystemId[]>> = {
  'eventbus-always': ['redis-always', 'nats', 'echo'],
  'eventbus-interval': ['redis-everysec', 'nats'],
};
