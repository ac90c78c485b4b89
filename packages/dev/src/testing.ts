export * from './test-context.js';
