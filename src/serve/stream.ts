// One live stream: source → shared inference session → outputs (RTSP, WebSocket, recording,
// snapshots), every frame counted.
//
// Latency first: a frame goes to inference as soon as the session gives this stream a turn,
// and to the outputs as soon as it comes back (no waiting for the next frame). While the
// stream waits for a turn the decoder keeps going; if a newer frame is ready by then, the
// older one is dropped (counted as "behind"), so a busy session costs frames, not latency.
//
// While the camera is down the outputs keep their frame rate with the last good frame,
// marked stale, so RTSP readers and recordings never stall.
import type { WebSocket } from 'ws';
import type { Frame } from '../frame.js';
import { UserError } from '../errors.js';
import { LiveSource, liveInputArgs, type LiveFrame, type LiveInput } from '../ingest/live-source.js';
import type { LiveFormat } from '../ingest/live-probe.js';
import type { Derained } from '../infer/derainer.js';
import { RtspPushSink } from '../egress/rtsp/rtsp-push-sink.js';
import { SegmentRecorder } from '../egress/record/segment-recorder.js';
import { WsHub, type OutFrame } from '../egress/ws/ws-hub.js';
import type { WsFormat } from '../egress/ws/frame-header.js';
import { encodeJpeg } from '../egress/jpeg/jpeg-once.js';
import type { StreamState, StreamStatus } from '../http/api-types.js';
import type { StreamConfig } from './config.js';
import type { DropReason, ServeMetrics } from './metrics.js';
import type { Lane, SessionPool } from './session-pool.js';
import { demoInput } from './demo-source.js';
import { Recent } from './recent.js';

/** Where RTSP outputs go: the embedded server or an external one. */
export interface RtspTarget {
  transport: 'udp' | 'tcp';
  publishUrl(id: string): string;
  /** what readers play (credentials hidden) */
  readUrl(id: string): string;
  readers(id: string): number;
  /** whether stream `id` can be played yet (false while its encoder is still announcing it) */
  published(id: string): boolean;
  unpublish(id: string): void;
}

export interface StreamDeps {
  pool: SessionPool;
  metrics: ServeMetrics;
  rtsp: RtspTarget | null;
  log: (msg: string) => void;
}

/** How long stop() lets frames in flight reach the outputs. */
const INFLIGHT_WAIT_MS = 1500;

/** Repeats start when no frame came for this long (or three frame intervals, if longer). */
const STALE_AFTER_MS = 500;

function inputOf(cfg: StreamConfig): LiveInput {
  if (cfg.kind === 'demo') return { ...demoInput(cfg.demo!), fps: cfg.fps };
  return { display: cfg.display, ...liveInputArgs(cfg.url, { transport: cfg.transport }), fps: cfg.fps };
}

export class Stream {
  private state: StreamState = 'connecting';
  private reason: string | null = null;
  private format: LiveFormat | null = null;
  private lane: Lane | null = null;
  private readonly source: LiveSource;
  private rtspSink: RtspPushSink | null = null;
  private recorder: SegmentRecorder | null = null;
  private hub: WsHub | null = null;
  /** the input frames, for viewers comparing before and after */
  private rawHub: WsHub | null = null;
  private filler: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private readonly inflight = new Set<Promise<void>>();
  private lastOut: OutFrame | null = null;
  private lastRealAt = 0;
  private lastRaw: { frame: Frame; at: number } | null = null;
  private stopping = false;
  private readonly recent = new Recent();
  private readonly counts = { ingested: 0, processed: 0, dropped: { behind: 0, slow_client: 0, encoder_behind: 0 } };

  constructor(
    readonly cfg: StreamConfig,
    private readonly deps: StreamDeps,
  ) {
    deps.metrics.addStream(cfg.id);
    this.source = new LiveSource(
      inputOf(cfg),
      { connectTimeoutMs: cfg.connectTimeoutMs, stallTimeoutMs: cfg.stallTimeoutMs, backoff: cfg.backoff },
      (e) => {
        const m = deps.metrics;
        const stream = cfg.id;
        if (e.type === 'ingested') {
          this.counts.ingested++;
          m.framesIngested.inc({ stream });
        } else if (e.type === 'dropped') this.drop('behind', e.count);
        else if (e.type === 'reconnecting') m.reconnects.inc({ stream });
        else if (e.type === 'up') {
          m.sourceUp.set({ stream }, 1);
          if (this.state !== 'failed') {
            this.state = 'live';
            this.reason = null;
          }
          deps.log(`stream ${stream}: source up`);
        } else if (e.type === 'down') {
          m.sourceUp.set({ stream }, 0);
          if (this.state !== 'failed') {
            this.state = this.lastOut ? 'stale' : 'connecting';
            this.reason = e.reason;
          }
          deps.log(`stream ${stream}: ${e.reason}; retrying in ${(e.retryInMs / 1000).toFixed(1)} s`);
        }
      },
    );
  }

  get id(): string {
    return this.cfg.id;
  }

  private drop(reason: DropReason, n = 1): void {
    this.counts.dropped[reason] += n;
    this.deps.metrics.framesDropped.inc({ stream: this.id, reason }, n);
  }

  /** Runs in the background until stop(). */
  start(): void {
    this.loop = this.run().catch((err: Error) => this.fail(err instanceof UserError ? err.message : `stopped working: ${err.message}`));
  }

  private fail(reason: string): void {
    this.state = 'failed';
    this.reason = reason;
    this.deps.log(`stream ${this.id}: ${reason}`);
    void this.source.stop();
  }

  private async run(): Promise<void> {
    const { cfg, deps } = this;
    const format = await this.source.open();
    if (!format || this.stopping) return;
    this.format = format;
    this.lane = await deps.pool.acquire(
      { model: cfg.model, width: format.width, height: format.height, inferSize: cfg.inferSize, scale: cfg.scale, ep: cfg.ep, threads: cfg.threads },
      cfg.smooth,
    );
    if (this.stopping) return;
    const { info } = this.lane;
    deps.log(`stream ${cfg.id}: ${format.width}x${format.height} @ ${format.fps.toFixed(2)} fps; model ${info.model} at ${info.infer.width}x${info.infer.height} on ${info.ep}`);
    if (info.note) deps.log(`stream ${cfg.id}: ${info.note}`);
    this.startOutputs(format);
    const it = this.source.start()[Symbol.asyncIterator]();
    for (;;) {
      const next = await it.next();
      if (next.done || this.stopping) break;
      if (!(await this.lane.turn())) break;
      let frame: LiveFrame = next.value;
      let reset = frame.reset;
      // A newer frame arrived while this one waited for its turn: take the newest.
      while (this.source.pending() > 0) {
        const newer = await it.next();
        if (newer.done) break;
        this.drop('behind');
        frame = newer.value;
        reset ||= frame.reset;
      }
      if (reset) this.lane.reset();
      this.keepRaw(frame);
      const job = this.lane.infer(frame).then(
        (d) => this.emit(d),
        (err: Error) => {
          if (!this.stopping) this.fail(`inference failed: ${err.message}`);
        },
      );
      this.inflight.add(job);
      void job.finally(() => this.inflight.delete(job));
    }
    await it.return?.(undefined);
  }

  private startOutputs(format: LiveFormat): void {
    const { cfg, deps } = this;
    const { width, height, fps } = format;
    const log = deps.log;
    if (cfg.outputs.rtsp && deps.rtsp) {
      this.rtspSink = new RtspPushSink({ url: deps.rtsp.publishUrl(cfg.id), transport: deps.rtsp.transport, width, height, fps, onSkip: () => this.drop('encoder_behind'), log });
    }
    if (cfg.outputs.record) {
      this.recorder = new SegmentRecorder({ ...cfg.outputs.record, id: cfg.id, width, height, fps, onSkip: () => this.drop('encoder_behind'), log });
    }
    if (cfg.outputs.ws) {
      this.hub = new WsHub({ stream: cfg.id, width, height, fps, onDrop: (reason) => this.drop(reason) });
      this.rawHub = new WsHub({ stream: cfg.id, width, height, fps, raw: true, onDrop: (reason) => this.drop(reason) });
    }
    const interval = 1000 / fps;
    const staleAfter = Math.max(STALE_AFTER_MS, 3 * interval);
    this.filler = setInterval(() => {
      if (this.lastOut && Date.now() - this.lastRealAt > staleAfter) this.output({ ...this.lastOut, stale: true });
    }, interval);
  }

  private keepRaw(frame: Frame): void {
    // The decoder reuses its buffers: the input snapshot needs its own copy.
    const data = this.lastRaw?.frame.data.length === frame.data.length ? this.lastRaw.frame.data : Buffer.alloc(frame.data.length);
    frame.data.copy(data);
    this.lastRaw = { frame: { ...frame, data }, at: Date.now() };
    // (encoders may hold a written buffer until their pipe drains: they get a copy of their own)
    if (this.rawHub?.size) this.rawHub.write({ ...frame, data: Buffer.from(frame.data) });
  }

  private emit(d: Derained): void {
    const now = Date.now();
    const e2eMs = now - d.frame.capturedAt;
    const m = this.deps.metrics;
    const info = this.lane!.info;
    this.counts.processed++;
    m.framesProcessed.inc({ stream: this.id });
    m.inference.observe({ stream: this.id, model: info.model, ep: info.ep }, d.inferenceMs / 1000);
    m.e2eLatency.observe({ stream: this.id }, e2eMs / 1000);
    this.recent.add(e2eMs, d.inferenceMs, now);
    this.lastRealAt = now;
    this.lastOut = { ...d.frame, stale: false };
    this.output(this.lastOut);
  }

  private output(frame: OutFrame): void {
    this.rtspSink?.write(frame);
    this.recorder?.write(frame);
    this.hub?.write(frame);
  }

  acceptWs(ws: WebSocket, format: WsFormat, raw = false): boolean {
    const hub = raw ? this.rawHub : this.hub;
    if (!hub || this.stopping) return false;
    hub.add(ws, format);
    return true;
  }

  async snapshot(raw: boolean): Promise<Buffer | null> {
    const frame = raw ? this.lastRaw?.frame : this.lastOut;
    if (!frame) return null;
    // the raw copy is overwritten by the next frame: encode a copy of it
    return encodeJpeg(raw ? { ...frame, data: Buffer.from(frame.data) } : frame);
  }

  status(): StreamStatus {
    const { cfg, format } = this;
    const info = this.lane?.info;
    const r = this.recent.summary();
    const rtsp = cfg.outputs.rtsp && this.deps.rtsp ? this.deps.rtsp : null;
    // Live means readers can read: until the RTSP output is playable, the stream is still starting.
    const starting = this.state === 'live' && !!rtsp && !rtsp.published(cfg.id);
    return {
      id: cfg.id,
      source: this.source.input.display,
      state: starting ? 'connecting' : this.state,
      stale: this.state === 'stale',
      reason: starting ? 'starting the RTSP output' : this.reason,
      width: format?.width ?? null,
      height: format?.height ?? null,
      sourceFps: format ? Math.round(format.fps * 100) / 100 : null,
      model: info?.model ?? null,
      ep: info?.ep ?? null,
      inferWidth: info?.infer.width ?? null,
      inferHeight: info?.infer.height ?? null,
      fps: r.fps,
      e2eMs: r.e2eMs,
      inferenceMs: r.inferenceMs,
      framesIngested: this.counts.ingested,
      framesProcessed: this.counts.processed,
      dropped: { ...this.counts.dropped },
      reconnects: this.source.reconnects,
      lastFrameAt: this.lastRealAt ? new Date(this.lastRealAt).toISOString() : null,
      outputs: {
        rtsp: rtsp ? rtsp.readUrl(cfg.id) : null,
        ws: cfg.outputs.ws ? `/ws/${cfg.id}` : null,
        record: cfg.outputs.record?.dir ?? null,
      },
      clients: { ws: (this.hub?.size ?? 0) + (this.rawHub?.size ?? 0), rtsp: rtsp && this.rtspSink ? rtsp.readers(cfg.id) : 0 },
    };
  }

  ringDepth(): number {
    return this.source.pending();
  }

  /** Stops the source, lets the frames in flight out, finishes the encoders (recordings stay playable), closes clients. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.source.stop();
    if (this.lane) this.lane.session.cancel(this.lane.id);
    await this.loop;
    // Frames in flight still go out, unless the model is slow: shutdown has 5 s in all.
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, INFLIGHT_WAIT_MS).unref())]);
    if (this.filler) clearInterval(this.filler);
    this.hub?.close();
    this.rawHub?.close();
    await Promise.allSettled([this.rtspSink?.close(), this.recorder?.close()]);
    if (this.rtspSink) this.deps.rtsp?.unpublish(this.id);
    this.lane?.release();
    this.deps.metrics.sourceUp.set({ stream: this.id }, 0);
    if (this.state !== 'failed') this.state = 'stopped';
  }
}
