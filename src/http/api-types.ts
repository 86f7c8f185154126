// What the HTTP layer needs from the service, and the JSON it serves. The service implements
// StreamDirectory; the HTTP code (and the dashboard) knows nothing else about pipelines.
import type { WebSocket } from 'ws';
import type { Registry } from 'prom-client';
import type { WsFormat } from '../egress/ws/frame-header.js';

export type StreamState = 'connecting' | 'live' | 'stale' | 'failed' | 'stopped';

/** One entry of GET /api/streams (never holds credentials). */
export interface StreamStatus {
  id: string;
  /** the source, with any user and password hidden */
  source: string;
  state: StreamState;
  /** true while the outputs repeat the last good frame (the camera is down) */
  stale: boolean;
  /** why the stream is not live, when it is not */
  reason: string | null;
  width: number | null;
  height: number | null;
  /** the source's frame rate */
  sourceFps: number | null;
  model: string | null;
  ep: string | null;
  inferWidth: number | null;
  inferHeight: number | null;
  /** over the last 5 s */
  fps: number;
  e2eMs: { p50: number; p95: number } | null;
  inferenceMs: { p50: number; p95: number } | null;
  framesIngested: number;
  framesProcessed: number;
  dropped: { behind: number; slow_client: number; encoder_behind: number };
  reconnects: number;
  lastFrameAt: string | null;
  outputs: { rtsp: string | null; ws: string | null; record: string | null };
  clients: { ws: number; rtsp: number };
}

export interface StreamDirectory {
  list(): StreamStatus[];
  get(id: string): StreamStatus | undefined;
  /** JPEG of the newest derained frame (raw: the newest input frame); null before the first frame */
  snapshot(id: string, raw: boolean): Promise<Buffer | null>;
  /** hands a WebSocket client to a stream (raw: the input frames, for comparison); false when the stream has no WebSocket output (yet) */
  acceptWs(id: string, ws: WebSocket, format: WsFormat, raw: boolean): boolean;
  registry: Registry;
}
