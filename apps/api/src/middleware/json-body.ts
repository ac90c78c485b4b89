import { ConveyorError } from '@conveyor/core/errors';
import type { Context } from 'hono';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Reads the request body as JSON: 415 unless the content type is JSON, 400 when it does
 * not parse. The size limit is enforced before, by the bodyLimit middleware.
 */
export async function readJsonBody(c: Context): Promise<unknown> {
  const contentType = c.req.header('content-type') ?? '';
  if (!JSON_TYPE.test(contentType)) {
    throw new ConveyorError(
      'UNSUPPORTED_MEDIA_TYPE',
      `send the body as application/json (got ${contentType === '' ? 'no content type' : JSON.stringify(contentType.slice(0, 100))})`,
    );
  }
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unparseable';
    throw new ConveyorError('MALFORMED_JSON', `the body is not valid JSON: ${reason}`);
  }
}
