// What the clip benchmarks (eval-video, eval-detect) share once the rainy frames exist: the run
// through the `derain run` Pipeline, frames in order with the temporal state carried, and the
// fields each report starts with (the clip, its rain, the model that ran).
import { UserError } from '../../errors.js';
import type { Frame } from '../../frame.js';
import type { OpenedModel } from '../../infer/index.js';
import { FfmpegSource } from '../../ingest/ffmpeg-source.js';
import type { InputInfo } from '../../ingest/probe.js';
import { FILE_POLICY, Pipeline, type AbortableSink, type PipelineStats } from '../../pipeline/index.js';
import type { Clip } from './clip.js';
import type { RainLevel } from './synth-rain.js';

/** What a clip benchmark is asked for: the clip (or pairs) and its rain, and where it reports progress. */
export interface ClipRunOptions {
  clip?: string;
  pairs?: string;
  from?: number;
  to?: number;
  rain: RainLevel;
  seed: number;
  onStage?: (what: string) => void;
  onFrame?: (done: number, total: number) => void;
}

export interface ClipRunFields {
  model: string;
  clip: string;
  from: number;
  to: number;
  frames: number;
  /** the rain setting; null for --pairs (the rain is the folder's) */
  rain: RainLevel | null;
  seed: number | null;
  width: number;
  height: number;
  inferWidth: number;
  inferHeight: number;
  smooth: number;
  ep: string;
}

export function clipRunFields(clip: Clip, model: OpenedModel, opts: { rain: RainLevel; seed: number; smooth: number }, frames: number): ClipRunFields {
  return {
    model: model.card.name,
    clip: clip.display,
    from: clip.from,
    to: clip.to,
    frames,
    rain: clip.rain ? null : opts.rain,
    seed: clip.rain ? null : opts.seed,
    width: clip.width,
    height: clip.height,
    inferWidth: model.infer.width,
    inferHeight: model.infer.height,
    smooth: opts.smooth,
    ep: model.ep,
  };
}

/** The rainy frames through the pipeline into `sink`; the derainer is closed after. A failure while working is the run's (exit 1). */
export async function derainClip(rain: InputInfo, model: OpenedModel, sink: AbortableSink, frames: number, onInput?: (f: Frame) => void): Promise<PipelineStats> {
  const pipeline = new Pipeline({ source: new FfmpegSource(rain), inference: model.derainer, sinks: [sink], policy: FILE_POLICY, keepTimings: true, expectFrames: frames, onInput });
  try {
    return await pipeline.run();
  } catch (err) {
    throw err instanceof UserError ? err : new UserError((err as Error).message, 1);
  } finally {
    await model.derainer.close();
  }
}

/** The mean of per-frame times, to 0.01 ms. */
export function meanMs(ms: number[]): number {
  return Math.round((ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length)) * 100) / 100;
}
