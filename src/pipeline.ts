// One stream: source → derainer → sinks, every frame counted, stopped in order.
import { UserError } from './errors.js';
import type { Sink, Source } from './frame.js';
import type { Derained, Derainer } from './infer/derainer.js';

/** Frames handed to the worker before the oldest is collected: two slot pairs, double buffering. */
const IN_FLIGHT = 2;

export interface AbortableSink extends Sink {
  /** Finish after a failure: keep what was produced, clearly marked, or nothing. */
  abort?(): Promise<void>;
}

export interface PipelineStats {
  framesIn: number;
  framesOut: number;
  framesDropped: number;
  inferenceMs: number[];
  wallSeconds: number;
}

export interface PipelineOptions {
  source: Source & { ring?: { dropped: number } };
  derainer: Derainer;
  sinks: AbortableSink[];
  onFrame?: (stats: PipelineStats) => void;
  /** frames the input declares (files): fewer decoded means the input was cut short */
  expectFrames?: number;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export class Pipeline {
  readonly stats: PipelineStats = { framesIn: 0, framesOut: 0, framesDropped: 0, inferenceMs: [], wallSeconds: 0 };
  private interrupted = false;

  constructor(private readonly opts: PipelineOptions) {}

  private async emit(result: Promise<Derained>): Promise<void> {
    const d = await result;
    for (const sink of this.opts.sinks) await sink.write(d.frame);
    this.stats.framesOut++;
    this.stats.inferenceMs.push(d.inferenceMs);
    this.opts.onFrame?.(this.stats);
  }

  /** Stops early (Ctrl-C): the frames already taken in still come out, and the run fails as interrupted. */
  interrupt(): void {
    this.interrupted = true;
    void this.opts.source.stop();
  }

  /** Runs to the end of the source. On failure, frames already derained still reach the sinks. */
  async run(): Promise<PipelineStats> {
    const { source, derainer, sinks } = this.opts;
    const started = performance.now();
    const inflight: Promise<Derained>[] = [];
    let failure: unknown = null;
    try {
      for await (const frame of source.start()) {
        this.stats.framesIn++;
        const p = derainer.infer(frame);
        p.catch(() => {}); // awaited in order below; this only keeps Node from calling it unhandled
        inflight.push(p);
        if (inflight.length >= IN_FLIGHT) await this.emit(inflight.shift()!);
      }
    } catch (err) {
      failure = err;
    }
    try {
      while (inflight.length > 0) await this.emit(inflight.shift()!);
    } catch (err) {
      failure ??= err;
    }
    const expected = this.opts.expectFrames;
    if (!failure && this.interrupted) failure = new UserError(`interrupted after ${this.stats.framesOut} frames`, 1);
    if (!failure && expected !== undefined && this.stats.framesIn < expected)
      failure = new UserError(`the input ended early: ${this.stats.framesIn} of the ${expected} frames it declares could be decoded (truncated or corrupt file)`, 1);
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
