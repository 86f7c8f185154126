// What the HTTP layer needs from the service. The service implements StreamDirectory; the HTTP
// code knows nothing else about pipelines. The JSON it serves is in src/protocol.
import type { WebSocket } from 'ws';
import type { Registry } from 'prom-client';
import type { WsFormat } from '../protocol/frame-header.js';
import type { ShardInfo, StreamStatus } from '../protocol/api.js';

export type { StreamState, StreamStatus } from '../protocol/api.js';

export interface StreamDirectory {
  /** which camera shard this service is; null when not sharded */
  readonly shard: ShardInfo | null;
  list(): StreamStatus[];
  get(id: string): StreamStatus | undefined;
  /** JPEG of the newest derained frame (raw: the newest input frame); null before the first frame */
  snapshot(id: string, raw: boolean): Promise<Buffer | null>;
  /** hands a WebSocket client to a stream (raw: the input frames, for comparison); false when the stream has no WebSocket output (yet) */
  acceptWs(id: string, ws: WebSocket, format: WsFormat, raw: boolean): boolean;
  registry: Registry;
}
