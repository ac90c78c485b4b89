export * from './conveyor-error.js';
export * from './storable.js';
export * from './validation.js';
export * from './with-timeout.js';
