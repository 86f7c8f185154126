// All streams of a service, and the directory the HTTP layer reads them through.
import type { WebSocket } from 'ws';
import type { WsFormat } from '../egress/ws/frame-header.js';
import type { StreamDirectory, StreamStatus } from '../http/api-types.js';
import type { ShardInfo } from '../protocol/api.js';
import type { StreamConfig } from './config.js';
import { ServeMetrics } from './metrics.js';
import { SessionPool, type PoolBatch } from './session-pool.js';
import { Stream, type RtspTarget } from './stream.js';

export class StreamManager implements StreamDirectory {
  private readonly streams = new Map<string, Stream>();
  readonly pool: SessionPool;
  readonly metrics: ServeMetrics;

  constructor(
    configs: StreamConfig[],
    private readonly rtsp: RtspTarget | null,
    log: (msg: string) => void,
    /** frames one session runs at a time (SessionPool) */
    inFlight?: number,
    readonly shard: ShardInfo | null = null,
    /** the config's `batch` (SessionPool) */
    batch: PoolBatch = 'auto',
  ) {
    this.pool = new SessionPool(
      inFlight,
      {
        log,
        onOpen: (info) => this.metrics.inferenceRestarts.inc({ model: info.model }, 0),
        onRestart: (info) => this.metrics.inferenceRestarts.inc({ model: info.model }),
      },
      batch,
    );
    this.metrics = new ServeMetrics(
      {
        streamIds: () => [...this.streams.keys()],
        ringDepth: (id) => this.streams.get(id)?.ringDepth() ?? 0,
        sinkClients: (id): Record<string, number> => {
          const s = this.streams.get(id)?.status();
          return s ? { ws: s.clients.ws, rtsp: s.clients.rtsp } : {};
        },
        rtspDroppedPackets: (id) => this.rtsp?.droppedPackets?.(id) ?? null,
      },
      shard,
    );
    for (const cfg of configs) this.streams.set(cfg.id, new Stream(cfg, { pool: this.pool, metrics: this.metrics, rtsp: this.rtsp, log }));
  }

  get registry() {
    return this.metrics.registry;
  }

  start(): void {
    for (const s of this.streams.values()) s.start();
  }

  list(): StreamStatus[] {
    return [...this.streams.values()].map((s) => s.status());
  }

  get(id: string): StreamStatus | undefined {
    return this.streams.get(id)?.status();
  }

  snapshot(id: string, raw: boolean): Promise<Buffer | null> {
    return this.streams.get(id)?.snapshot(raw) ?? Promise.resolve(null);
  }

  acceptWs(id: string, ws: WebSocket, format: WsFormat, raw = false): boolean {
    return this.streams.get(id)?.acceptWs(ws, format, raw) ?? false;
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.streams.values()].map((s) => s.stop()));
    await this.pool.close();
  }
}
