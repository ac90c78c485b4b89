export * from './connect.js';
export * from './ping.js';
export * from './tenant-in-flight.js';
