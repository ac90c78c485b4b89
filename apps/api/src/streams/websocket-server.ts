import { WebSocketServer } from 'ws';

/**
 * Largest frame (and message) a WebSocket client may send. `ws` reads a frame's length
 * from its header and closes the socket with 1009 before buffering a larger payload.
 */
export const WS_MAX_PAYLOAD_BYTES = 64 * 1024;

/** The `ws` server `serve({ websocket: { server } })` upgrades /v1/ws with. */
export function createWebSocketServer(): WebSocketServer {
  return new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD_BYTES });
}
