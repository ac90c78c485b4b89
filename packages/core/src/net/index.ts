export * from './address-guard.js';
export * from './why-not-global.js';
