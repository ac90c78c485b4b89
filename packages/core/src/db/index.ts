export * from './connect.js';
export * from './data-exception.js';
export * from './job-columns.js';
export * from './job-types.js';
export * from './migrate.js';
export * from './prune-history.js';
export * from './schema.js';
export * from './terminal-rows.js';
