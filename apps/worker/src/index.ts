/**
 * @conveyor/worker: run Conveyor job types in your own process (`runWorker`), the stock
 * worker's built-in types (`builtinJobs`), and the parts a worker is made of, for tools and
 * tests that compose one in-process.
 */

export { type AddressGuard, createAddressGuard } from '@conveyor/core/net';
export { builtinJobs, echo, httpRequestJob, noop, sleep } from './builtins/index.js';
export { type ConveyorWorker, createConveyorWorker, type DeliveryOptions } from './conveyor-worker.js';
export { DEFAULT_UNSERVED, type UnservedPolicy } from './hand-back.js';
export type { Handler, HandlerContext } from './handler.js';
export { createWorkerMetrics, type WorkerMetrics } from './metrics.js';
export { exitWithStartError, type RunWorkerOptions, runWorker, type WorkerHandle } from './run-worker.js';
export { startTypeRegistrar, type TypeRegistrar } from './type-registrar.js';
export { createWorkerServerApp } from './worker-server.js';
