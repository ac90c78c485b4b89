export type { Handler, HandlerContext, HandlerTable, TestingHandlerTable } from './handler.js';
export { handlers } from './table.js';
export { testingHandlers } from './testing.js';
