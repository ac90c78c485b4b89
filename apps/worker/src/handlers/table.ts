import type { AddressGuard } from '../net/address-guard.js';
import { echo, noop, sleep } from './builtins.js';
import type { HandlerTable } from './handler.js';
import { createHttpRequestHandler } from './http-request.js';

/**
 * The handler of every catalog type. Add a type: write its handler, then add one line here.
 * The table is checked against the catalog at compile time.
 */
export function createHandlers({ guard }: { guard: AddressGuard }): HandlerTable {
  return {
    noop,
    echo,
    sleep,
    'http.request': createHttpRequestHandler(guard),
  } satisfies HandlerTable;
}
