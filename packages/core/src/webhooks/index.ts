export * from './delivery-job.js';
export * from './signature.js';
export * from './signing-secret.js';
export * from './webhook-body.js';
export * from './webhook-dispatcher.js';
