import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isConveyorError } from '@conveyor/core/errors';
import { createAddressGuard } from '@conveyor/core/net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardedRequest } from './guarded-request.js';

let server: Server;
let base: string;
/** A second origin (another port), which echoes the request headers it got. */
let other: Server;
let otherBase: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const redirects: Record<string, [number, string]> = {
      '/to-metadata': [302, 'http://169.254.169.254/latest/meta-data'],
      '/to-loopback': [307, 'http://127.0.0.2:1/'],
      '/to-ok': [301, '/ok'],
      '/to-other-origin': [302, `${otherBase}/headers`],
      '/to-same-origin': [302, '/headers'],
      '/to-other-and-back': [307, `${otherBase}/back`],
    };
    const redirect = redirects[req.url ?? ''];
    if (redirect) {
      res.writeHead(redirect[0], { location: redirect[1] }).end();
      return;
    }
    if (req.url === '/headers') {
      res.end(JSON.stringify(req.headers));
      return;
    }
    if (req.url === '/big') {
      res.end('x'.repeat(100_000));
      return;
    }
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => res.writeHead(200, { 'x-seen': req.method ?? '' }).end(`echo:${body}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  other = createServer((req, res) => {
    if (req.url === '/back') {
      res.writeHead(302, { location: `${base}/headers` }).end();
      return;
    }
    res.end(JSON.stringify(req.headers));
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  otherBase = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await new Promise<void>((resolve) => other.close(() => resolve()));
});

const signal = () => AbortSignal.timeout(5_000);

async function refusal(run: Promise<unknown>): Promise<string> {
  try {
    await run;
  } catch (error) {
    if (isConveyorError(error, 'TARGET_FORBIDDEN')) return error.message;
    throw error;
  }
  throw new Error('expected TARGET_FORBIDDEN');
}

describe('guardedRequest', () => {
  const strict = createAddressGuard([]);
  const loopbackAllowed = createAddressGuard(['127.0.0.1']);

  it.each([
    'http://127.0.0.1:9/',
    'http://10.0.0.1/',
    'http://172.16.5.4/',
    'http://192.168.1.1/',
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://0.0.0.0/',
  ])('refuses %s before connecting', async (url) => {
    expect(await refusal(guardedRequest(strict, { method: 'GET', url, signal: signal() }))).toContain(
      'HTTP_ALLOWLIST',
    );
  });

  it('refuses a host name that resolves to a private address', async () => {
    const message = await refusal(
      guardedRequest(strict, {
        method: 'GET',
        url: `${base.replace('127.0.0.1', 'localhost')}/`,
        signal: signal(),
      }),
    );
    expect(message).toMatch(/localhost resolves to (127\.0\.0\.1|::1)/);
  });

  it('refuses non-http schemes', async () => {
    await refusal(guardedRequest(strict, { method: 'GET', url: 'file:///etc/passwd', signal: signal() }));
  });

  it('reaches an allow-listed loopback server and records the response', async () => {
    const response = await guardedRequest(loopbackAllowed, {
      method: 'POST',
      url: `${base}/x`,
      body: 'hi',
      signal: signal(),
    });
    expect(response).toMatchObject({
      status: 200,
      body: 'echo:hi',
      truncated: false,
      headers: { 'x-seen': 'POST' },
    });
  });

  it('follows redirects, checking every hop', async () => {
    expect(
      await guardedRequest(loopbackAllowed, { method: 'GET', url: `${base}/to-ok`, signal: signal() }),
    ).toMatchObject({
      status: 200,
      url: `${base}/ok`,
    });
    await refusal(
      guardedRequest(loopbackAllowed, { method: 'GET', url: `${base}/to-metadata`, signal: signal() }),
    );
    await refusal(
      guardedRequest(loopbackAllowed, { method: 'GET', url: `${base}/to-loopback`, signal: signal() }),
    );
  });

  describe('credentials on redirects', () => {
    const credentials = {
      Authorization: 'Bearer secret-token',
      cookie: 'session=abc',
      'Proxy-Authorization': 'Basic cHJveHk6c2VjcmV0',
      'x-trace': 'kept',
    };
    const seen = async (url: string): Promise<Record<string, string>> => {
      const response = await guardedRequest(loopbackAllowed, {
        method: 'GET',
        url,
        headers: credentials,
        signal: signal(),
      });
      expect(response.status).toBe(200);
      return JSON.parse(response.body) as Record<string, string>;
    };

    it('drops authorization, cookie and proxy-authorization on a redirect to another origin', async () => {
      const headers = await seen(`${base}/to-other-origin`);
      expect(headers).not.toHaveProperty('authorization');
      expect(headers).not.toHaveProperty('cookie');
      expect(headers).not.toHaveProperty('proxy-authorization');
      expect(headers['x-trace']).toBe('kept');
      expect(headers.host).toBe(otherBase.replace('http://', ''));
    });

    it('keeps them on a redirect within the same origin', async () => {
      expect(await seen(`${base}/to-same-origin`)).toMatchObject({
        authorization: 'Bearer secret-token',
        cookie: 'session=abc',
        'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
        'x-trace': 'kept',
      });
    });

    it('does not restore them when a later hop comes back to the first origin', async () => {
      const headers = await seen(`${base}/to-other-and-back`);
      expect(headers.host).toBe(base.replace('http://', ''));
      expect(headers).not.toHaveProperty('authorization');
      expect(headers).not.toHaveProperty('cookie');
    });

    it('sends them to the first origin itself', async () => {
      expect(await seen(`${otherBase}/headers`)).toMatchObject({ authorization: 'Bearer secret-token' });
    });
  });

  it('keeps at most maxBodyBytes of the body', async () => {
    const response = await guardedRequest(loopbackAllowed, {
      method: 'GET',
      url: `${base}/big`,
      signal: signal(),
      maxBodyBytes: 1_000,
    });
    expect(response.body).toHaveLength(1_000);
    expect(response.truncated).toBe(true);
  });

  it('turns a refused connection into a retryable error', async () => {
    const closed = createAddressGuard(['127.0.0.1']);
    await expect(
      guardedRequest(closed, { method: 'GET', url: 'http://127.0.0.1:9/', signal: signal() }),
    ).rejects.toMatchObject({
      code: 'HANDLER_FAILED',
      retryable: true,
    });
  });
});
