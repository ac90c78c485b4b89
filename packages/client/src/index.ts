export * from './client.js';
export * from './sse.js';
