// The WebSocket output of one stream: every client gets each frame in its format (rgb24 for
// detectors, jpeg for viewers and the dashboard), behind the header of frame-header.ts.
//
// Each client has a bounded queue: a frame counts as queued from send() until the socket has
// taken it. A client with `maxQueue` frames still queued skips new ones (counted as
// slow_client), so a reader that stalls costs the server at most that many frames, never
// unbounded memory, and never holds up the other clients.
import type { WebSocket } from 'ws';
import type { Frame } from '../../frame.js';
import { JpegStream } from '../jpeg/jpeg-stream.js';
import { encodeHeader, HEADER_BYTES, type WsFormat } from './frame-header.js';

export type OutFrame = Frame & { stale?: boolean };

export interface WsHubOptions {
  stream: string;
  width: number;
  height: number;
  fps: number;
  /** the hub carries input frames, not derained ones (said in the hello message) */
  raw?: boolean;
  /** frames a client may have queued before it skips frames */
  maxQueue?: number;
  /** mjpeg quality scale (2 best … 31 worst) */
  jpegQuality?: number;
  onDrop?: (reason: 'slow_client' | 'encoder_behind') => void;
}

interface Client {
  ws: WebSocket;
  format: WsFormat;
  queued: number;
  alive: boolean;
}

const HEARTBEAT_MS = 30_000;

export class WsHub {
  private readonly clients = new Set<Client>();
  private jpeg: JpegStream | null = null;
  private lastJpeg: { seq: number; data: Buffer } | null = null;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: WsHubOptions) {
    // Clients that vanished without closing (a pulled cable) are found by ping and let go.
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) {
        if (!c.alive) c.ws.terminate();
        else {
          c.alive = false;
          c.ws.ping();
        }
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  add(ws: WebSocket, format: WsFormat): void {
    if (this.closed) {
      ws.close(1001, 'server shutting down');
      return;
    }
    const client: Client = { ws, format, queued: 0, alive: true };
    this.clients.add(client);
    ws.on('pong', () => (client.alive = true));
    ws.on('close', () => {
      this.clients.delete(client);
      if (!this.hasFormat('jpeg')) this.stopJpeg();
    });
    ws.on('error', () => ws.terminate());
    // Nothing is read from clients; a client that sends anyway is not buffered for.
    ws.on('message', () => {});
    const { stream, width, height, fps } = this.opts;
    ws.send(JSON.stringify({ type: 'hello', stream, format, raw: !!this.opts.raw, width, height, fps, headerBytes: HEADER_BYTES }));
  }

  private hasFormat(format: WsFormat): boolean {
    for (const c of this.clients) if (c.format === format) return true;
    return false;
  }

  private stopJpeg(): void {
    this.jpeg?.close();
    this.jpeg = null;
    this.lastJpeg = null;
  }

  private send(format: WsFormat, frame: Omit<OutFrame, 'data'>, payload: Buffer): void {
    let msg: Buffer | null = null;
    for (const c of this.clients) {
      if (c.format !== format) continue;
      if (c.queued >= (this.opts.maxQueue ?? 2)) {
        this.opts.onDrop?.('slow_client');
        continue;
      }
      msg ??= Buffer.concat([encodeHeader({ format, stale: !!frame.stale, seq: frame.seq, pts: frame.pts, capturedAt: frame.capturedAt, width: frame.width, height: frame.height }), payload]);
      c.queued++;
      c.ws.send(msg, { binary: true }, () => c.queued--);
    }
  }

  write(frame: OutFrame): void {
    if (this.clients.size === 0) return;
    if (this.hasFormat('rgb24')) this.send('rgb24', frame, frame.data);
    if (!this.hasFormat('jpeg')) return;
    // A repeated frame (camera down) is not encoded again.
    if (frame.stale && this.lastJpeg?.seq === frame.seq) {
      this.send('jpeg', frame, this.lastJpeg.data);
      return;
    }
    if (this.jpeg?.dead) this.jpeg = null; // it failed: start another
    this.jpeg ??= new JpegStream(this.opts.width, this.opts.height, this.opts.jpegQuality ?? 5, (data, meta) => {
      this.lastJpeg = { seq: meta.seq, data };
      this.send('jpeg', meta, data);
    });
    if (!this.jpeg.write(frame)) this.opts.onDrop?.('encoder_behind');
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const c of this.clients) {
      c.ws.close(1001, 'server shutting down');
      // a client that does not answer the close handshake is cut off
      setTimeout(() => c.ws.terminate(), 1000).unref();
    }
    this.stopJpeg();
  }
}
