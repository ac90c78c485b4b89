/** The worker's parts, for tests and tools that compose it in-process; main.ts is its entry point. */
export { type CallbackOptions, type ConveyorWorker, createConveyorWorker } from './conveyor-worker.js';
export { createHandlers, type Handler, testingHandlers } from './handlers/index.js';
export { createWorkerMetrics, type WorkerMetrics } from './metrics.js';
export { createAddressGuard } from './net/address-guard.js';
export { startTypeRegistrar, type TypeRegistrar } from './type-registrar.js';
export { createWorkerServerApp } from './worker-server.js';
