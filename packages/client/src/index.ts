export * from './client.js';
export * from './flows.js';
export * from './job-definitions.js';
export * from './sse.js';
