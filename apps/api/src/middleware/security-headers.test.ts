import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { describe, expect, it } from 'vitest';
import { securityHeaders } from './security-headers.js';

const csp = { defaultSrc: ["'none'"], scriptSrc: ["'self'"], imgSrc: ["'self'", 'data:'] };

function headersOf(response: Response): Record<string, string> {
  const all = Object.fromEntries(response.headers);
  delete all['content-type'];
  return all;
}

describe('securityHeaders', () => {
  it("sets exactly what Hono's secureHeaders sets, so the table cannot drift from it", async () => {
    const ours = new Hono().use(securityHeaders(csp)).get('/', (c) => c.text('x'));
    const hono = new Hono().use(secureHeaders({ contentSecurityPolicy: csp })).get('/', (c) => c.text('x'));
    expect(headersOf(await ours.request('/'))).toEqual(headersOf(await hono.request('/')));
  });

  it('also lands on error answers', async () => {
    const app = new Hono().use(securityHeaders(csp)).get('/', () => {
      throw new Error('boom');
    });
    app.onError((_e, c) => c.text('no', 500));
    const response = await app.request('/');
    expect(response.status).toBe(500);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});
