export type { Handler, HandlerContext, HandlerTable, TestingHandlerTable } from './handler.js';
export { createHandlers } from './table.js';
export { testingHandlers } from './testing.js';
