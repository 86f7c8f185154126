// One stream: source → inference → sinks, every frame counted, stopped in order. `derain run`
// and every stream of `derain serve` go through this loop; they differ only in the feed policy.
//
//   ordered (files): every decoded frame goes in, in order, with `inFlight` frames handed over
//     at once (double buffering) and back-pressure on the decoder: frames in = frames out.
//   latest (live cameras): a frame goes in when the shared session gives this stream a turn;
//     if a newer frame is waiting by then, the older one is dropped and counted ("behind"), so a
//     busy session costs frames, not latency. A frame whose inference fails is dropped and
//     counted ("inference_error"); `maxFailures` failures in a row mark the stream failing, and
//     it tries again after a back-off (capped, growing), like a camera that went away.
//
// A heartbeat (live) repeats the last output, marked stale, while no frame comes, so RTSP
// readers and recordings never stall while a camera is down.
import type { Frame, Sink, Source } from '../frame.js';
import type { Derained } from '../infer/index.js';
import { backoffDelay, sleep, type BackoffOptions } from '../ingest/backoff.js';
import { InferenceFailed, InputEndedEarly, Interrupted } from './pipeline-errors.js';

export interface AbortableSink extends Sink {
  /** Finish after a failure: keep what was produced, clearly marked, or nothing. */
  abort?(): Promise<void>;
}

/** What the loop needs from inference: a Derainer (one stream) or a lane of a shared session. */
export interface FrameInference {
  infer(frame: Frame): Promise<Derained>;
  /** the next frame restarts the state carried across frames */
  reset(): void;
  /** live: waits until the session takes a frame from this stream; false once it will not */
  turn?(): Promise<boolean>;
  /** gives up a turn being waited for (stopping) */
  cancel?(): void;
}

export interface PipelineSource extends Source {
  /** frames decoded and not yet taken (live: a newer frame is waiting) */
  pending?(): number;
  ring?: { dropped: number };
}

/** `retry` unset: `maxFailures` in a row end the run with InferenceFailed. */
export type FeedPolicy = { kind: 'ordered'; inFlight: number } | { kind: 'latest'; maxFailures: number; retry?: BackoffOptions };

export type DropReason = 'behind' | 'inference_error';

export interface PipelineStats {
  framesIn: number;
  framesOut: number;
  framesDropped: number;
  inferenceMs: number[];
  wallSeconds: number;
}

export interface PipelineOptions {
  source: PipelineSource;
  inference: FrameInference;
  sinks: AbortableSink[];
  policy: FeedPolicy;
  /**
   * Repeat the last output, marked stale, once none came for `staleAfterMs`: checked every
   * `intervalMs`, repeated every `repeatEveryMs` (default: every check). Functions are asked at
   * each check, so the caller can follow the rate outputs come at.
   */
  heartbeat?: { intervalMs: number; staleAfterMs: number | (() => number); repeatEveryMs?: () => number };
  /** frames the input declares (files): fewer decoded means the input was cut short; a function is asked once the input has ended */
  expectFrames?: number | (() => number | undefined);
  /** how long the end of a stop lets frames in flight reach the sinks (live; files wait for all) */
  drainMs?: number;
  /** keep the inference's durations in stats (files: for the summary's percentiles) */
  keepTimings?: boolean;
  onInput?(frame: Frame): void;
  onOutput?(d: Derained, stats: PipelineStats): void;
  onDrop?(reason: DropReason, n: number, err?: Error): void;
  /** live: `maxFailures` in a row; the next frame is tried after `retryInMs` */
  onFailing?(err: InferenceFailed, retryInMs: number): void;
  /** live: a frame came out again after onFailing */
  onRecovered?(): void;
}

export const FILE_POLICY: FeedPolicy = { kind: 'ordered', inFlight: 2 };
export const LIVE_POLICY: FeedPolicy = { kind: 'latest', maxFailures: 5, retry: { initialMs: 1000, maxMs: 30_000 } };

export class Pipeline {
  readonly stats: PipelineStats = { framesIn: 0, framesOut: 0, framesDropped: 0, inferenceMs: [], wallSeconds: 0 };
  private interrupted = false;
  private stopping = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private last: Frame | null = null;
  private lastAt = 0;
  private beat: NodeJS.Timeout | null = null;
  private readonly stopped = new AbortController();

  constructor(private readonly opts: PipelineOptions) {}

  /** The newest output frame (snapshots, late viewers). */
  get lastOutput(): Frame | null {
    return this.last;
  }

  /** Wall-clock ms of the newest real (not repeated) output; 0 before the first. */
  get lastOutputAt(): number {
    return this.lastAt;
  }

  /** Stops early (Ctrl-C): the frames already taken in still come out, and a file run fails as interrupted. */
  interrupt(): void {
    this.interrupted = true;
    void this.opts.source.stop();
  }

  /** Stops a live stream: no new frames, a waiting turn given up; run() then finishes as usual. */
  stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    this.opts.inference.cancel?.();
    return this.opts.source.stop();
  }

  private write(frame: Frame): void | Promise<void> {
    const sinks = this.opts.sinks;
    if (sinks.length === 1) return sinks[0].write(frame);
    const waits = sinks.map((s) => s.write(frame)).filter((w): w is Promise<void> => w instanceof Promise);
    if (waits.length) return Promise.all(waits).then(() => undefined);
  }

  private async emit(d: Derained): Promise<void> {
    const frame = { ...d.frame, stale: false };
    this.last = frame;
    this.lastAt = Date.now();
    await this.write(frame);
    this.stats.framesOut++;
    if (this.opts.keepTimings) this.stats.inferenceMs.push(d.inferenceMs);
    this.opts.onOutput?.(d, this.stats);
  }

  private take(frame: Frame): void {
    this.stats.framesIn++;
    if (frame.reset) this.opts.inference.reset();
    this.opts.onInput?.(frame);
  }

  /** Files: every frame, in order; the `inFlight`-th frame handed over waits for the oldest to come out. */
  private async feedOrdered(inFlight: number): Promise<void> {
    const { source, inference } = this.opts;
    const queue: { seq: number; result: Promise<Derained> }[] = [];
    const next = async () => {
      const { seq, result } = queue.shift()!;
      let d: Derained;
      try {
        d = await result;
      } catch (err) {
        throw new InferenceFailed(seq + 1, err as Error);
      }
      await this.emit(d);
    };
    try {
      for await (const frame of source.start()) {
        this.take(frame);
        const result = inference.infer(frame);
        result.catch(() => {}); // awaited in order by next(); this only keeps Node from calling it unhandled
        queue.push({ seq: frame.seq, result });
        if (queue.length >= inFlight) await next();
      }
      while (queue.length > 0) await next();
    } finally {
      // after a failure, the frames behind it are not written: they settle before the session closes
      await Promise.allSettled(queue.map((q) => q.result));
    }
  }

  /** Live: at each turn the newest frame; results go out as soon as they come back. */
  private async feedLatest(policy: { maxFailures: number; retry?: BackoffOptions }): Promise<void> {
    const { source, inference } = this.opts;
    let failures = 0;
    let rounds = 0; // back-offs since the last frame that came out
    let failing: InferenceFailed | null = null;
    const it = source.start()[Symbol.asyncIterator]();
    try {
      for (;;) {
        if (failing) {
          if (!policy.retry) break;
          const retryInMs = backoffDelay(++rounds, policy.retry);
          this.opts.onFailing?.(failing, retryInMs);
          await sleep(retryInMs, this.stopped.signal);
          failing = null;
          failures = 0;
        }
        const next = await it.next();
        if (next.done || this.stopping) break;
        if (inference.turn && !(await inference.turn())) break;
        let frame = next.value;
        let reset = !!frame.reset;
        // A newer frame arrived while this one waited for its turn (or a back-off): take the newest.
        while ((source.pending?.() ?? 0) > 0) {
          const newer = await it.next();
          if (newer.done) break;
          this.opts.onDrop?.('behind', 1);
          frame = newer.value;
          reset ||= !!frame.reset;
        }
        this.take(reset ? { ...frame, reset } : frame);
        const seq = frame.seq;
        const job = inference.infer(frame).then(
          (d) => {
            failures = 0;
            if (rounds) {
              rounds = 0;
              this.opts.onRecovered?.();
            }
            return this.emit(d);
          },
          (err: Error) => {
            if (this.stopping) return;
            failures++;
            this.opts.onDrop?.('inference_error', 1, err);
            if (failures >= policy.maxFailures) failing ??= new InferenceFailed(seq + 1, err, failures);
          },
        );
        this.inflight.add(job);
        void job.finally(() => this.inflight.delete(job));
        // one frame at a time without a session's turns (a stream alone on its derainer)
        if (!inference.turn) await job;
      }
    } finally {
      await it.return?.(undefined);
    }
    // the last results decide: a source that ended with failures in flight still fails the stream
    if (!this.stopping) await Promise.allSettled([...this.inflight]);
    if (failing && !policy.retry) throw failing;
  }

  private startHeartbeat(): void {
    const hb = this.opts.heartbeat;
    if (!hb) return;
    let repeatedAt = 0;
    this.beat = setInterval(() => {
      const now = Date.now();
      const staleAfter = typeof hb.staleAfterMs === 'function' ? hb.staleAfterMs() : hb.staleAfterMs;
      if (!this.last || now - this.lastAt <= staleAfter) return;
      // (half a check early: timers fire late, and a repeat due now should not wait a whole check)
      if (hb.repeatEveryMs && now - repeatedAt < hb.repeatEveryMs() - hb.intervalMs / 2) return;
      repeatedAt = now;
      void this.write({ ...this.last, stale: true });
    }, hb.intervalMs);
  }

  /** Runs to the end of the source (or stop()). On failure, frames already derained still reach the sinks. */
  async run(): Promise<PipelineStats> {
    const { source, sinks, policy } = this.opts;
    const started = performance.now();
    let failure: unknown = null;
    this.startHeartbeat();
    try {
      if (policy.kind === 'ordered') await this.feedOrdered(policy.inFlight);
      else await this.feedLatest(policy);
    } catch (err) {
      failure = err;
    }
    // Live: frames in flight still go out, unless the model is slow (a stop has a deadline).
    const drain = Promise.allSettled([...this.inflight]);
    await (this.opts.drainMs === undefined ? drain : Promise.race([drain, new Promise((r) => setTimeout(r, this.opts.drainMs).unref())]));
    if (this.beat) clearInterval(this.beat);
    const expect = this.opts.expectFrames;
    const expected = typeof expect === 'function' ? expect() : expect;
    if (!failure && this.interrupted) failure = new Interrupted(this.stats.framesOut);
    if (!failure && expected !== undefined && this.stats.framesIn < expected) failure = new InputEndedEarly(this.stats.framesIn, expected);
    this.stats.framesDropped = source.ring?.dropped ?? 0;
    this.stats.wallSeconds = (performance.now() - started) / 1000;
    await source.stop();
    if (failure) {
      await Promise.allSettled(sinks.map((s) => (s.abort ? s.abort() : s.close())));
      throw failure;
    }
    // Close every sink even if one fails, then report the first failure.
    const closed = await Promise.allSettled(sinks.map((s) => s.close()));
    const bad = closed.find((c) => c.status === 'rejected') as PromiseRejectedResult | undefined;
    if (bad) throw bad.reason;
    return this.stats;
  }
}
