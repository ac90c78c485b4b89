export * from './define-job.js';
export * from './job-context.js';
export * from './non-retryable-error.js';
export * from './queue-limits.js';
export * from './reserved-queues.js';
