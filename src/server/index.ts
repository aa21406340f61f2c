/** The network front end: sockets, per-connection ordering, limits, auth, TLS, shutdown. */
export { Authenticator, type ClientCredentials } from './auth.js';
export type { ServerStats } from './connection.js';
export { DEFAULT_LIMITS, resolveLimits, type ServerLimits } from './limits.js';
export { isLoopbackHost } from './loopback.js';
export { EventBusServer, checkExposure, type ServerOptions } from './server.js';
