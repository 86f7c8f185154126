// A live source that never gives up: an ffmpeg decoder (FfmpegSource) per connection, with
// connect, first-frame and stall timeouts, and reconnection with capped exponential back-off
// and jitter. Connecting and the first frame are timed apart: a camera with a long keyframe
// interval (x264's default -g 250 is 20 s at 12.5 fps) answers at once and decodes only from
// its next keyframe, which is no reason to hang up on it.
// Frames keep one sequence across reconnections; the first frame of each connection is
// marked `reset`, so whatever keeps state across frames (temporal smoothing) starts afresh.
import type { Frame, Source } from '../frame.js';
import { redactUrl } from '../errors.js';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.js';
import { Decimation } from './decimation.js';
import { FfmpegSource } from './ffmpeg-source.js';
import { liveInputKind, urlFailureReason } from './input-url.js';
import { probeLive, type LiveFormat } from './live-probe.js';

export interface LiveFrame extends Frame {
  /** the first frame of a connection */
  reset: boolean;
}

export interface LiveInput {
  /** for messages: the input with credentials hidden */
  display: string;
  /** ffprobe's input arguments; absent when `format` is known (a synthetic source) */
  probeArgs?: string[];
  /** ffmpeg's input arguments for decoding */
  decodeArgs: string[];
  format?: LiveFormat;
  /** a frame rate that overrides the one the input declares */
  fps?: number;
  /** the input's URL (with its credentials: never shown), to explain why it cannot be opened */
  url?: string;
}

/** How long a connected input may take to its first decoded frame (its next keyframe), by default. */
export const DEFAULT_FIRST_FRAME_TIMEOUT_MS = 30_000;

export interface LiveSourceOptions {
  /** the input has not answered (ffmpeg has not opened it) in this long: the attempt failed */
  connectTimeoutMs: number;
  /** the input answered but no frame was decoded in this long after (default 30 s): the attempt failed */
  firstFrameTimeoutMs?: number;
  /** no frame decoded for this long: the decoder is restarted */
  stallTimeoutMs: number;
  backoff: BackoffOptions;
  /** ring slots: one held by the consumer, one with the newest frame, one being decoded */
  slots?: number;
}

export type LiveEvent =
  | { type: 'up' }
  /** connected: the input answered, no frame yet (the reason says what it waits for) */
  | { type: 'waiting'; reason: string }
  | { type: 'down'; reason: string; retryInMs: number }
  | { type: 'reconnecting' }
  | { type: 'dropped'; count: number }
  /** frames that came from the camera (`count`, default 1: skipped ones come several at a time) */
  | { type: 'ingested'; count?: number };

// No input buffering; and no frame-rate estimation when the decoder starts (the probe already
// knows the rate): measured on a loopback camera, the first frame came 1.6 s after start
// instead of 3.1 s, which is how long every reconnection would lose.
const LOW_DELAY = ['-fflags', 'nobuffer', '-fpsprobesize', '0'];
// And for RTSP, no stream analysis either: the stream description (SDP) says what the stream
// is, and the probe knows its size. Analysis reads until it has decoded a frame or read 5 s of
// stream, and `nobuffer` throws away what it read: a keyframe that came during it was lost,
// and a camera with a keyframe every 10 s gave its first frame after 12.8 s instead of 2.5 s
// (measured on a loopback camera; with a keyframe every 0.5 s, 0.8 s instead of 1.3-1.8 s).
const NO_ANALYSIS = ['-analyzeduration', '1'];

/** ffmpeg input arguments for the kinds of URL a camera can have. */
export function liveInputArgs(url: string, opts: { transport: 'tcp' | 'udp' }): { probeArgs: string[]; decodeArgs: string[]; url?: string } {
  const kind = liveInputKind(url);
  if (kind === 'rtsp') {
    // Timeouts are ours (the watchdog, the probe's time limit), not ffmpeg's: its socket-timeout
    // option changed name and meaning between versions (-stimeout in 4.x, -timeout later, where
    // 4.x's -timeout makes it listen instead), and FFMPEG_PATH may name either.
    const args = ['-rtsp_transport', opts.transport, '-i', url];
    return { probeArgs: args, decodeArgs: [...LOW_DELAY, ...NO_ANALYSIS, ...args], url };
  }
  if (kind === 'url') return { probeArgs: ['-i', url], decodeArgs: [...LOW_DELAY, '-i', url], url };
  // A file stands in for a camera: looped forever, at its own frame rate.
  return { probeArgs: ['-i', url], decodeArgs: ['-re', '-stream_loop', '-1', '-i', url] };
}

export class LiveSource implements Source {
  private readonly stopper = new AbortController();
  private current: FfmpegSource | null = null;
  private format: LiveFormat | null = null;
  private failures = 0;
  private attempts = 0;
  /** the probe just connected: the first decoder is part of that same attempt */
  private probed = false;
  private nextSeq = 0;
  /** how many of the camera's frames the decoder skips, from the rate they are taken at */
  private decimation: Decimation | null = null;
  private readonly t0 = Date.now();
  up = false;
  /** connection attempts after the first */
  reconnects = 0;
  lastError: string | null = null;

  constructor(
    readonly input: LiveInput,
    private readonly opts: LiveSourceOptions,
    private readonly onEvent: (e: LiveEvent) => void = () => {},
  ) {}

  get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  /** The decoder converts one frame in this many that the camera sends (1: all of them). */
  get decodeStep(): number {
    return this.current?.skipStep ?? 1;
  }

  /** Frames the decoder converted on its current connection. */
  get framesConverted(): number {
    return this.current?.framesDecoded ?? 0;
  }

  /** Frames decoded and waiting behind the one the consumer holds. */
  pending(): number {
    return this.current?.ring.depth ?? 0;
  }

  private countAttempt(): void {
    if (this.probed) this.probed = false;
    else if (this.attempts++ > 0) {
      this.reconnects++;
      this.onEvent({ type: 'reconnecting' });
    }
  }

  private async failed(reason: string): Promise<void> {
    this.up = false;
    this.lastError = redactUrl(reason);
    this.failures++;
    const retryInMs = backoffDelay(this.failures, this.opts.backoff);
    this.onEvent({ type: 'down', reason: this.lastError, retryInMs });
    await sleep(retryInMs, this.stopper.signal);
  }

  /** The input's size and rate: probed, retrying until it answers or the source is stopped (then null). */
  async open(): Promise<LiveFormat | null> {
    const { input } = this;
    if (input.format) this.format = { ...input.format, fps: input.fps ?? input.format.fps };
    while (!this.format && !this.stopped) {
      this.countAttempt();
      try {
        const f = await probeLive(input.probeArgs!, this.opts.connectTimeoutMs, input.url, this.stopper.signal);
        this.format = { ...f, fps: input.fps ?? f.fps };
        this.probed = true;
      } catch (err) {
        if (!this.stopped) await this.failed(`cannot open ${input.display}: ${(err as Error).message}`);
      }
    }
    return this.format;
  }

  /** Frames until stop(): each yielded frame's data is valid until the next one is asked for. */
  async *start(): AsyncGenerator<LiveFrame> {
    const format = this.format ?? (await this.open());
    if (!format) return;
    const firstFrameMs = this.opts.firstFrameTimeoutMs ?? DEFAULT_FIRST_FRAME_TIMEOUT_MS;
    while (!this.stopped) {
      this.countAttempt();
      const startedAt = Date.now();
      let openedAt = 0;
      const src: FfmpegSource = new FfmpegSource(
        { kind: 'live', display: this.input.display, location: this.input.display, width: format.width, height: format.height, fps: format.fps, frameCountExact: false },
        {
          slots: this.opts.slots ?? 3,
          policy: 'drop-oldest',
          inputArgs: this.input.decodeArgs,
          onDrop: () => {
            this.onEvent({ type: 'ingested' });
            this.onEvent({ type: 'dropped', count: 1 });
          },
          // frames skipped by the decoder: from the camera, never handed over (as dropped as those the ring drops)
          onSkipped: (count) => {
            this.onEvent({ type: 'ingested', count });
            this.onEvent({ type: 'dropped', count });
          },
          skipLevel: this.decimation?.level ?? 0,
          onOpened: () => {
            openedAt = Date.now();
            if (src.framesDecoded === 0 && !this.stopped) this.onEvent({ type: 'waiting', reason: `connected; waiting for a keyframe (up to ${firstFrameMs / 1000} s)` });
          },
        },
      );
      this.current = src;
      let reason: string | null = null;
      // The watchdog watches the decoder, not the consumer: a slow consumer is not a dead camera.
      let seen = 0;
      let lastProgress = Date.now();
      const watchdog = setInterval(
        () => {
          if (reason) return;
          if (src.framesDecoded !== seen) {
            seen = src.framesDecoded;
            lastProgress = Date.now();
            return;
          }
          const now = Date.now();
          if (seen > 0) {
            if (now - lastProgress > this.opts.stallTimeoutMs) reason = `no frame for ${this.opts.stallTimeoutMs / 1000} s (stalled)`;
          } else if (!openedAt) {
            if (now - startedAt > this.opts.connectTimeoutMs) reason = `no answer within ${this.opts.connectTimeoutMs / 1000} s`;
          } else if (now - openedAt > firstFrameMs) {
            reason = `connected, but no keyframe (no first frame) within ${firstFrameMs / 1000} s`;
          }
          if (reason) void src.stop();
        },
        Math.min(250, this.opts.stallTimeoutMs / 4),
      );
      let first = true;
      const decimation = (this.decimation ??= new Decimation(format.fps));
      // Decided only while frames arrive: a camera that is slow to start or stalls says nothing
      // of how fast they are taken.
      let arrived = -1;
      const decide = setInterval(() => {
        if (src.framesDecoded === arrived || arrived < 0) {
          arrived = src.framesDecoded > 0 ? src.framesDecoded : -1;
          decimation.restart();
          return;
        }
        arrived = src.framesDecoded;
        const level = decimation.decide();
        if (level !== null) src.setSkipLevel(level);
      }, 1000);
      try {
        for await (const frame of src.start()) {
          decimation.took();
          if (first) {
            this.up = true;
            this.failures = 0;
            this.lastError = null;
            this.onEvent({ type: 'up' });
          }
          this.onEvent({ type: 'ingested' });
          const seq = this.nextSeq++;
          yield { ...frame, seq, pts: (frame.capturedAt - this.t0) / 1000, reset: first };
          first = false;
        }
        reason ??= 'the stream ended';
      } catch (err) {
        // An input that failed before it answered may say why better than ffmpeg did.
        const why = !reason && !openedAt && this.input.url ? await urlFailureReason(this.input.url, src.crashSignal !== null) : null;
        reason ??= why ? `cannot open ${this.input.display}: ${why}` : (err as Error).message;
      } finally {
        clearInterval(watchdog);
        clearInterval(decide);
        await src.stop();
        this.current = null;
      }
      if (this.stopped) return;
      await this.failed(reason);
    }
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.current?.stop();
  }
}
