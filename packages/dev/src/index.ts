export * from './delete-keys.js';
export * from './embedded-postgres.js';
export * from './exit-hooks.js';
export * from './free-port.js';
export * from './redis-server.js';
export * from './services.js';
export * from './test-database.js';
