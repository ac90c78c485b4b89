import { WebSocket } from 'ws';

/** A WebSocket client of GET /v1/ws, for tests: every message kept, `next(type)` waits for one. */
export interface Socketed {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string; at: number }>;
  next(type: string): Promise<Record<string, unknown>>;
}

/** Opens GET /v1/ws with `token`; resolves once the socket is open. */
export function openSocket(base: string, token: string): Promise<Socketed> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const messages: Record<string, unknown>[] = [];
  const consumed = new Set<Record<string, unknown>>();
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })),
  );
  const next = async (type: string) => {
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const found = messages.find((m) => m.type === type && !consumed.has(m));
      if (found) {
        consumed.add(found);
        return found;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`no ${type} message; got ${JSON.stringify(messages)}`);
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, closed, next }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
  });
}
