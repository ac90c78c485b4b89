export * from './callback-dispatcher.js';
export * from './delivery-job.js';
export * from './signature.js';
export * from './signing-secret.js';
export * from './webhook-body.js';
