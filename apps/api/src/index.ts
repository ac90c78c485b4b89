/** The app's parts, for tests and tools that compose it in-process; main.ts is its entry point. */
export type { ApiEnv } from './api-env.js';
export { type ApiDeps, createApp } from './app.js';
export { type ApiKeyStore, createApiKeyStore } from './auth/api-keys.js';
export { createJwtVerifier, type JwtOptions, type JwtVerifier } from './auth/jwt-verifier.js';
export {
  createJobTypeRegistry,
  fixedJobTypeRegistry,
  type JobTypeRegistry,
  type RegisteredJobType,
} from './job-types/job-type-registry.js';
export { createQueueSet, type QueueSet } from './queues.js';
export { createEventHub, type EventHub, type EventHubOptions } from './streams/event-hub.js';
export { createWebSocketServer, WS_MAX_PAYLOAD_BYTES } from './streams/websocket-server.js';
