// One WebSocket of frames (/ws/<id>, JPEG), reconnecting with capped back-off when the
// connection drops (server restart, network): the card never needs a page reload.
import { readFrameHeader, type FrameHeader } from '../protocol/frame-header.js';

export interface FrameSocketHandlers {
  frame(header: FrameHeader, jpeg: Blob): void;
  /** open: frames can come; closed: why, and a retry is scheduled */
  status(open: boolean, why: string | null): void;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 5000;

export class FrameSocket {
  private ws: WebSocket | null = null;
  private retryMs = FIRST_RETRY_MS;
  private timer: number | undefined;
  private closed = false;

  /** url is asked again on every attempt: the token may have changed */
  constructor(
    private readonly url: () => string,
    private readonly on: FrameSocketHandlers,
  ) {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.url());
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = FIRST_RETRY_MS;
      this.on.status(true, null);
    };
    ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (typeof e.data === 'string') return; // the hello; the API says the rest
      let h: FrameHeader & { headerBytes: number };
      try {
        h = readFrameHeader(new Uint8Array(e.data));
      } catch {
        return;
      }
      if (h.format === 'jpeg') this.on.frame(h, new Blob([new Uint8Array(e.data, h.headerBytes)], { type: 'image/jpeg' }));
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) return;
      // 1013: the stream has no frame yet (still connecting); anything else: connection lost
      this.on.status(false, e.code === 1013 ? 'waiting for the first frame' : 'video connection lost; reconnecting');
      this.timer = window.setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    };
  }

  close(): void {
    this.closed = true;
    window.clearTimeout(this.timer);
    this.ws?.close(1000);
    this.ws = null;
  }
}
