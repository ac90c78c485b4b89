/** One Server-Sent Event. */
export interface SseMessage {
  event: string;
  data: string;
  /** The message's `id:` (a Conveyor event id), when it has one: what Last-Event-ID resumes after. */
  id?: string;
}

/**
 * Parses a text/event-stream body into messages (comments and heartbeats skipped).
 * Works on any ReadableStream of bytes, so in browsers and Node alike.
 */
export async function* parseSse(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const onAbort = () => void reader.cancel().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.search(/\r?\n\r?\n/);
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        let event = 'message';
        let id: string | undefined;
        const data: string[] = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = text;
          else if (field === 'data') data.push(text);
          else if (field === 'id' && !text.includes('\0')) id = text;
        }
        if (data.length > 0) yield { event, data: data.join('\n'), ...(id === undefined ? {} : { id }) };
        end = buffer.search(/\r?\n\r?\n/);
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
}
