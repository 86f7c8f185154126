// One live stream of the service: the wiring of a camera, a lane of a shared inference session
// and the outputs (RTSP, WebSocket, recording, snapshots) around the one per-stream loop,
// `Pipeline` with the live feed policy (the newest frame at each turn, drops counted, the last
// frame repeated while the camera is down), and the status the API reports.
import type { WebSocket } from 'ws';
import type { Frame } from '../frame.js';
import { LiveSource, liveInputArgs, type LiveInput } from '../ingest/live-source.js';
import type { LiveFormat } from '../ingest/live-probe.js';
import { isInferUserError, type Derained } from '../infer/index.js';
import { LIVE_POLICY, Pipeline, type AbortableSink } from '../pipeline/index.js';
import { RtspPushSink } from '../egress/rtsp/rtsp-push-sink.js';
import { SegmentRecorder } from '../egress/record/segment-recorder.js';
import { WsHub } from '../egress/ws/ws-hub.js';
import type { WsFormat } from '../egress/ws/frame-header.js';
import { encodeJpeg } from '../egress/jpeg/jpeg-once.js';
import type { DropReason, OutputStatus, StreamState, StreamStatus } from '../protocol/api.js';
import type { StreamConfig } from './config.js';
import type { ServeMetrics } from './metrics.js';
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
  /** packets not sent to readers too far behind (the embedded server's TCP readers) */
  droppedPackets?(id: string): number;
}

export interface StreamDeps {
  pool: SessionPool;
  metrics: ServeMetrics;
  rtsp: RtspTarget | null;
  log: (msg: string) => void;
}

/** How long a stop lets frames in flight reach the outputs (shutdown has 5 s in all). */
const INFLIGHT_WAIT_MS = 1500;

/** Repeats start when no frame came for this long (or three frame intervals, if longer). */
export const STALE_AFTER_MS = 500;

/** Output gaps kept to judge the rate a stream's outputs come at (their median). */
const GAPS_KEPT = 9;
/** A gap longer than this is not the rate (a gap across a camera's outage is not kept either). */
const MAX_GAP_MS = 10_000;

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
  private pipeline: Pipeline | null = null;
  private rtspSink: RtspPushSink | null = null;
  private recorder: SegmentRecorder | null = null;
  private hub: WsHub | null = null;
  /** the input frames, for viewers comparing before and after */
  private rawHub: WsHub | null = null;
  private loop: Promise<void> | null = null;
  private lastRaw: { frame: Frame; at: number } | null = null;
  private stopping = false;
  /** the camera's frame interval */
  private intervalMs = 40;
  /** the last gaps between outputs, and when the last output came */
  private readonly gaps: number[] = [];
  private lastOutAt = 0;
  private readonly recent = new Recent();
  private readonly counts = { ingested: 0, processed: 0, dropped: { behind: 0, slow_client: 0, encoder_behind: 0, inference_error: 0 } };

  constructor(
    readonly cfg: StreamConfig,
    private readonly deps: StreamDeps,
  ) {
    deps.metrics.addStream(cfg.id);
    this.source = new LiveSource(
      inputOf(cfg),
      { connectTimeoutMs: cfg.connectTimeoutMs, firstFrameTimeoutMs: cfg.firstFrameTimeoutMs, stallTimeoutMs: cfg.stallTimeoutMs, backoff: cfg.backoff },
      (e) => {
        const m = deps.metrics;
        const stream = cfg.id;
        if (e.type === 'ingested') {
          this.counts.ingested += e.count ?? 1;
          m.framesIngested.inc({ stream }, e.count ?? 1);
        } else if (e.type === 'dropped') this.drop('behind', e.count);
        else if (e.type === 'reconnecting') m.reconnects.inc({ stream });
        else if (e.type === 'waiting') {
          if (this.state !== 'failed') this.reason = e.reason;
        } else if (e.type === 'up') {
          m.sourceUp.set({ stream }, 1);
          if (this.state !== 'failed') {
            this.state = 'live';
            this.reason = null;
          }
          deps.log(`stream ${stream}: source up`);
        } else if (e.type === 'down') {
          m.sourceUp.set({ stream }, 0);
          if (this.state !== 'failed') {
            this.state = this.pipeline?.lastOutput ? 'stale' : 'connecting';
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
    this.loop = this.run().catch((err: Error) => this.fail(isInferUserError(err) ? err.message : `stopped working: ${err.message}`));
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
    const { model, inferSize, scale, ep, threads } = cfg;
    this.lane = await deps.pool.acquire({ model, inferSize, scale, ep, threads, width: format.width, height: format.height }, cfg.smooth);
    if (this.stopping) return;
    const { info } = this.lane;
    deps.log(`stream ${cfg.id}: ${format.width}x${format.height} @ ${format.fps.toFixed(2)} fps; model ${info.model} at ${info.infer.width}x${info.infer.height} on ${info.ep}`);
    if (info.note) deps.log(`stream ${cfg.id}: ${info.note}`);
    const interval = 1000 / format.fps;
    this.intervalMs = interval;
    this.pipeline = new Pipeline({
      source: this.source,
      inference: this.lane,
      sinks: this.startOutputs(format),
      policy: LIVE_POLICY,
      heartbeat: { intervalMs: interval, staleAfterMs: () => this.staleAfterMs(), repeatEveryMs: () => this.outputGapMs() },
      drainMs: INFLIGHT_WAIT_MS,
      onInput: (frame) => this.keepRaw(frame),
      onOutput: (d) => this.measure(d),
      onDrop: (reason, n, err) => {
        this.drop(reason, n);
        if (err) deps.log(`stream ${cfg.id}: frame dropped, inference failed: ${err.message.split('\n')[0]}`);
      },
      onFailing: (err, retryInMs) => {
        this.state = 'failed';
        this.reason = `${err.message}; retrying in ${(retryInMs / 1000).toFixed(1)} s`;
        deps.log(`stream ${cfg.id}: ${this.reason}`);
      },
      onRecovered: () => {
        this.state = this.source.up ? 'live' : 'stale';
        this.reason = this.source.up ? null : this.source.lastError;
        deps.log(`stream ${cfg.id}: inference works again`);
      },
    });
    await this.pipeline.run();
  }

  private startOutputs(format: LiveFormat): AbortableSink[] {
    const { cfg, deps } = this;
    const { width, height, fps } = format;
    const log = deps.log;
    const sinks: AbortableSink[] = [];
    if (cfg.outputs.rtsp && deps.rtsp) {
      const onChange = (s: OutputStatus) => deps.metrics.outputChanged(cfg.id, 'rtsp', s);
      this.rtspSink = new RtspPushSink({ url: deps.rtsp.publishUrl(cfg.id), transport: deps.rtsp.transport, width, height, fps, onSkip: () => this.drop('encoder_behind'), onChange, log });
      sinks.push(this.rtspSink);
    }
    if (cfg.outputs.record) {
      const onChange = (s: OutputStatus) => deps.metrics.outputChanged(cfg.id, 'record', s);
      this.recorder = new SegmentRecorder({ ...cfg.outputs.record, id: cfg.id, width, height, fps, onSkip: () => this.drop('encoder_behind'), onChange, log });
      sinks.push(this.recorder);
    }
    if (cfg.outputs.ws) {
      this.hub = new WsHub({ stream: cfg.id, width, height, fps, onDrop: (reason) => this.drop(reason) });
      this.rawHub = new WsHub({ stream: cfg.id, width, height, fps, raw: true, onDrop: (reason) => this.drop(reason) });
      sinks.push(this.hub);
    }
    return sinks;
  }

  /**
   * The usual time between outputs: the camera's interval while inference keeps up; longer when
   * the session serves several cameras slower than they send, and then repeats at the camera's
   * rate would have the encoders encode more repeats than frames.
   */
  private outputGapMs(): number {
    if (this.gaps.length < 3) return this.intervalMs;
    const sorted = [...this.gaps].sort((a, b) => a - b);
    return Math.max(this.intervalMs, sorted[sorted.length >> 1]);
  }

  /** No output for this long: the outputs repeat the last frame, marked stale, and so does the API. */
  private staleAfterMs(): number {
    return Math.max(STALE_AFTER_MS, 3 * this.outputGapMs());
  }

  private keepRaw(frame: Frame): void {
    // the first frame after a reconnect: the time since the last output was the outage
    if (frame.reset) this.lastOutAt = 0;
    // The decoder reuses its buffers: the input snapshot needs its own copy.
    const data = this.lastRaw?.frame.data.length === frame.data.length ? this.lastRaw.frame.data : Buffer.alloc(frame.data.length);
    frame.data.copy(data);
    this.lastRaw = { frame: { ...frame, data }, at: Date.now() };
    // (encoders may hold a written buffer until their pipe drains: they get a copy of their own)
    if (this.rawHub?.size) this.rawHub.write({ ...frame, data: Buffer.from(frame.data) });
  }

  private measure(d: Derained): void {
    const now = Date.now();
    const e2eMs = now - d.frame.capturedAt;
    const m = this.deps.metrics;
    const info = this.lane!.info;
    this.counts.processed++;
    if (this.lastOutAt && now - this.lastOutAt <= MAX_GAP_MS) {
      this.gaps.push(now - this.lastOutAt);
      if (this.gaps.length > GAPS_KEPT) this.gaps.shift();
    }
    this.lastOutAt = now;
    m.framesProcessed.inc({ stream: this.id });
    m.inference.observe({ stream: this.id, model: info.model, ep: info.ep }, d.inferenceMs / 1000);
    m.e2eLatency.observe({ stream: this.id }, e2eMs / 1000);
    this.recent.add(e2eMs, d.inferenceMs, now);
  }

  acceptWs(ws: WebSocket, format: WsFormat, raw = false): boolean {
    const hub = raw ? this.rawHub : this.hub;
    if (!hub || this.stopping) return false;
    hub.add(ws, format);
    return true;
  }

  async snapshot(raw: boolean): Promise<Buffer | null> {
    const frame = raw ? this.lastRaw?.frame : this.pipeline?.lastOutput;
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
    const lastAt = this.pipeline?.lastOutputAt ?? 0;
    // One notion of stale for the API, health and the frames: once the outputs repeat the last
    // frame, the stream is stale, before the source's watchdog has declared the camera down.
    const quietMs = lastAt ? Date.now() - lastAt : 0;
    const quiet = this.state === 'live' && quietMs > this.staleAfterMs();
    const inference = this.lane?.inference() ?? null;
    // While its session's inference process restarts, a stream's outputs repeat the last frame.
    const restarting = inference?.state === 'restarting' && (this.state === 'live' || this.state === 'stale');
    const state: StreamState = starting ? 'connecting' : restarting ? (lastAt ? 'stale' : 'connecting') : quiet ? 'stale' : this.state;
    const why = restarting ? `inference process restarting: ${inference.lastExit}` : quiet ? `no frame for ${(quietMs / 1000).toFixed(1)} s` : this.reason;
    return {
      id: cfg.id,
      source: this.source.input.display,
      state,
      stale: state === 'stale',
      reason: starting ? 'starting the RTSP output' : why,
      width: format?.width ?? null,
      height: format?.height ?? null,
      sourceFps: format ? Math.round(format.fps * 100) / 100 : null,
      decodeEvery: this.source.decodeStep,
      model: info?.model ?? null,
      ep: info?.ep ?? null,
      inferWidth: info?.infer.width ?? null,
      inferHeight: info?.infer.height ?? null,
      fps: r.fps,
      e2eMs: r.e2eMs,
      inferenceMs: r.inferenceMs,
      inference,
      framesIngested: this.counts.ingested,
      framesProcessed: this.counts.processed,
      dropped: { ...this.counts.dropped },
      reconnects: this.source.reconnects,
      lastFrameAt: lastAt ? new Date(lastAt).toISOString() : null,
      outputs: {
        rtsp: rtsp ? rtsp.readUrl(cfg.id) : null,
        ws: cfg.outputs.ws ? `/ws/${cfg.id}` : null,
        record: cfg.outputs.record?.dir ?? null,
      },
      outputState: { rtsp: this.rtspSink?.status() ?? null, record: this.recorder?.status() ?? null },
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
    await (this.pipeline ? this.pipeline.stop() : this.source.stop());
    // the pipeline drains what is in flight (bounded) and closes its outputs
    await this.loop;
    await this.rawHub?.close();
    if (this.rtspSink) this.deps.rtsp?.unpublish(this.id);
    this.lane?.release();
    this.deps.metrics.sourceUp.set({ stream: this.id }, 0);
    if (this.state !== 'failed') this.state = 'stopped';
  }
}
