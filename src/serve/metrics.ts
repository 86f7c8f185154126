// Prometheus metrics of `derain serve`, named as in ARCHITECTURE.md. Each server has its own
// registry (several can run in one process, as in the tests).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { DropReason, OutputStatus, ShardInfo } from '../protocol/api.js';

export type { DropReason };

/** What the gauges read at scrape time. */
export interface GaugeSource {
  ringDepth(stream: string): number;
  sinkClients(stream: string): Record<string, number>;
  /** RTP/RTCP packets the embedded RTSP server did not send to TCP readers too far behind; null without an embedded server */
  rtspDroppedPackets(stream: string): number | null;
  streamIds(): string[];
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.25, 0.5, 1, 2, 5];

export class ServeMetrics {
  readonly registry = new Registry();
  readonly framesIngested: Counter<'stream'>;
  readonly framesProcessed: Counter<'stream'>;
  readonly framesDropped: Counter<'stream' | 'reason'>;
  readonly inference: Histogram<'stream' | 'model' | 'ep'>;
  readonly e2eLatency: Histogram<'stream'>;
  readonly sourceUp: Gauge<'stream'>;
  readonly reconnects: Counter<'stream'>;
  readonly inferenceRestarts: Counter<'model'>;
  readonly outputUp: Gauge<'stream' | 'output'>;
  readonly outputRestarts: Counter<'stream' | 'output'>;
  private readonly outputRestartsSeen = new Map<string, number>();

  constructor(gauges: GaugeSource, shard: ShardInfo | null = null) {
    const registers = [this.registry];
    this.framesIngested = new Counter({ name: 'derain_frames_ingested_total', help: 'Frames decoded from the source', labelNames: ['stream'], registers });
    this.framesProcessed = new Counter({ name: 'derain_frames_processed_total', help: 'Frames derained and handed to the outputs', labelNames: ['stream'], registers });
    this.framesDropped = new Counter({ name: 'derain_frames_dropped_total', help: 'Frames dropped, by reason (behind, slow_client, encoder_behind)', labelNames: ['stream', 'reason'], registers });
    this.inference = new Histogram({ name: 'derain_inference_seconds', help: 'Inference time of one frame', labelNames: ['stream', 'model', 'ep'], buckets: LATENCY_BUCKETS, registers });
    this.e2eLatency = new Histogram({ name: 'derain_e2e_latency_seconds', help: 'From decoding a frame to handing it to the outputs', labelNames: ['stream'], buckets: LATENCY_BUCKETS, registers });
    this.sourceUp = new Gauge({ name: 'derain_source_up', help: '1 while the source delivers frames', labelNames: ['stream'], registers });
    this.reconnects = new Counter({ name: 'derain_source_reconnects_total', help: 'Connection attempts to the source after the first', labelNames: ['stream'], registers });
    // by model, not stream: the streams on one model share one session and its process
    this.inferenceRestarts = new Counter({
      name: 'derain_inference_restarts_total',
      help: 'Inference processes started in place of one that died or hung',
      labelNames: ['model'],
      registers,
    });
    this.outputUp = new Gauge({ name: 'derain_output_up', help: '1 while an encoder output (rtsp, record) runs, 0 while it failed and is retried', labelNames: ['stream', 'output'], registers });
    this.outputRestarts = new Counter({
      name: 'derain_output_restarts_total',
      help: 'Encoder outputs (rtsp, record) started again after they failed',
      labelNames: ['stream', 'output'],
      registers,
    });
    new Gauge({
      name: 'derain_ring_depth',
      help: 'Decoded frames waiting for inference',
      labelNames: ['stream'],
      registers,
      collect() {
        this.reset();
        for (const id of gauges.streamIds()) this.set({ stream: id }, gauges.ringDepth(id));
      },
    });
    new Gauge({
      name: 'derain_sink_clients',
      help: 'Clients reading an output (ws: WebSocket clients, rtsp: RTSP readers of the embedded server)',
      labelNames: ['stream', 'sink'],
      registers,
      collect() {
        this.reset();
        for (const id of gauges.streamIds()) for (const [sink, n] of Object.entries(gauges.sinkClients(id))) this.set({ stream: id, sink }, n);
      },
    });
    // the server keeps the count, so it is read at each scrape rather than incremented here
    new Counter({
      name: 'derain_rtsp_packets_dropped_total',
      help: 'RTP/RTCP packets of the embedded RTSP server not sent to a TCP reader more than 1 MiB behind',
      labelNames: ['stream'],
      registers,
      collect() {
        this.reset();
        for (const id of gauges.streamIds()) {
          const n = gauges.rtspDroppedPackets(id);
          if (n !== null) this.inc({ stream: id }, n);
        }
      },
    });
    if (shard) {
      // an info metric: the shard is in the labels, so a query can join it onto any series of the target
      const info = new Gauge({ name: 'derain_shard_info', help: 'The camera shard this service serves (serve --shard index/count)', labelNames: ['index', 'count'], registers });
      info.set({ index: String(shard.index), count: String(shard.count) }, 1);
    }
    collectDefaultMetrics({ register: this.registry });
  }

  /** An encoder output's state, as it changes: up or not, and its restarts counted. */
  outputChanged(stream: string, output: 'rtsp' | 'record', s: OutputStatus): void {
    const key = `${stream}\0${output}`;
    this.outputUp.set({ stream, output }, s.state === 'running' ? 1 : 0);
    this.outputRestarts.inc({ stream, output }, s.restarts - (this.outputRestartsSeen.get(key) ?? 0));
    this.outputRestartsSeen.set(key, s.restarts);
  }

  /** Every series of a stream exists from the start, at zero. */
  addStream(id: string): void {
    this.framesIngested.inc({ stream: id }, 0);
    this.framesProcessed.inc({ stream: id }, 0);
    for (const reason of ['behind', 'slow_client', 'encoder_behind'] satisfies DropReason[]) this.framesDropped.inc({ stream: id, reason }, 0);
    this.reconnects.inc({ stream: id }, 0);
    this.sourceUp.set({ stream: id }, 0);
  }
}
