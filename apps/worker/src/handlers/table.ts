import { echo, noop, sleep } from './builtins.js';
import type { HandlerTable } from './handler.js';
import { httpRequest } from './http-request.js';

/** The handler of every catalog type. Add a type: write its handler, then add one line here. */
export const handlers = {
  noop,
  echo,
  sleep,
  'http.request': httpRequest,
} satisfies HandlerTable;
