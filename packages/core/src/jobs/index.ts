export * from './builtins.js';
export * from './catalog.js';
export * from './define-job.js';
export * from './job-status.js';
export * from './plain-record.js';
export * from './submit.js';
export * from './testing.js';
