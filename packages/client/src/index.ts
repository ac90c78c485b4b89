export * from './client.js';
export type * from './flows.js';
export * from './job-definitions.js';
export * from './sse.js';
