/** The TypeScript client of eventbus: `import { EventBusClient } from 'eventbus/client'`. */
export { EventBusClient, type ClientOptions } from './client.js';
export { Subscription, type SubscribeOptions, type SubscriptionItem } from './subscription.js';
export { responseError } from './response-errors.js';
export type * from './types.js';
export { EventBusError, ErrorCodes, isEventBusError, type ErrorCode } from '../errors.js';
