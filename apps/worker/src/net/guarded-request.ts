import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ConveyorError, isConveyorError } from '@conveyor/core/errors';
import type { AddressGuard } from '@conveyor/core/net';

export interface OutboundRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  /** @defaultValue 5 */
  maxRedirects?: number;
  /** Most body bytes kept. @defaultValue 64 KiB */
  maxBodyBytes?: number;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  truncated: boolean;
  /** The URL that answered, after redirects. */
  url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Headers that carry credentials: a redirect to another origin must not take them along. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** The headers without the credential ones (names compared case-insensitively). */
function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase())),
  );
}

function once(guard: AddressGuard, method: string, url: URL, req: OutboundRequest, limit: number) {
  return new Promise<{ response: IncomingMessage; body: string; truncated: boolean }>((resolve, reject) => {
    guard.assertAllowedUrl(url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const outgoing = send(
      url,
      { method, headers: req.headers, signal: req.signal, lookup: guard.lookup },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        response.on('data', (chunk: Buffer) => {
          if (truncated) return;
          const room = limit - size;
          if (chunk.byteLength > room) {
            chunks.push(chunk.subarray(0, room));
            size = limit;
            truncated = true;
            response.destroy();
            resolve({ response, body: Buffer.concat(chunks, size).toString('utf8'), truncated });
            return;
          }
          chunks.push(chunk);
          size += chunk.byteLength;
        });
        response.on('end', () =>
          resolve({ response, body: Buffer.concat(chunks, size).toString('utf8'), truncated }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(method === 'GET' || method === 'HEAD' ? undefined : req.body);
  });
}

/**
 * Sends one HTTP request that can only reach addresses the guard allows: every hostname is
 * checked when it is resolved for the connection (so DNS cannot be re-pointed between a
 * check and the connect), IP literals before connecting, and every redirect hop the same
 * way. A redirect to another origin (scheme, host and port) drops the authorization,
 * cookie and proxy-authorization headers for the rest of the chain, as the fetch standard
 * does, so a credential meant for one host never reaches another. Network failures are
 * retryable HANDLER_FAILED errors; a forbidden target is not.
 */
export async function guardedRequest(guard: AddressGuard, req: OutboundRequest): Promise<OutboundResponse> {
  const { maxRedirects = 5, maxBodyBytes = 64 * 1024 } = req;
  let url = new URL(req.url);
  let method = req.method;
  let headers = req.headers;
  for (let hop = 0; ; hop++) {
    let answer: Awaited<ReturnType<typeof once>>;
    try {
      answer = await once(
        guard,
        method,
        url,
        { ...req, headers, ...(method === req.method ? {} : { body: undefined }) },
        maxBodyBytes,
      );
    } catch (error) {
      if (req.signal.aborted) throw req.signal.reason;
      if (isConveyorError(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConveyorError('HANDLER_FAILED', `${method} ${url.href} failed: ${reason}`, {
        retryable: true,
        cause: error,
      });
    }
    const { response, body, truncated } = answer;
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECTS.has(status) && location !== undefined) {
      if (hop >= maxRedirects) {
        throw new ConveyorError('HANDLER_FAILED', `more than ${maxRedirects} redirects from ${req.url}`);
      }
      const next = new URL(location, url);
      if (headers !== undefined && next.origin !== url.origin) headers = withoutCredentials(headers);
      url = next;
      // 303, and 301/302 after a POST, continue as GET without the body (as browsers do).
      if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) method = 'GET';
      continue;
    }
    const answered: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) answered[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return { status, headers: answered, body, truncated, url: url.href };
  }
}
