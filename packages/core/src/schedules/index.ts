export * from './schedule-body.js';
export * from './schedule-timing.js';
export * from './scheduler-sync.js';
