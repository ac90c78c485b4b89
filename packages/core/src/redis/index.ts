export * from './connect.js';
export * from './ping.js';
