// One `derain eval-video`: a clean clip with synthetic rain from the kit's generator (fixed
// seed), or a rain/ + clean/ pair of frame folders, run through the same fused graph and Pipeline
// as `derain run` (the frames in order, with the temporal state), and scored against the clean
// frames on all, static and moving pixels, beside the same scores of the rainy input.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../errors.js';
import type { Frame } from '../../frame.js';
import { checkModel, openModel, type ModelSettings } from '../../infer/index.js';
import type { InputInfo } from '../../ingest/probe.js';
import type { AbortableSink } from '../../pipeline/index.js';
import { lumaOf, type Luma } from '../metrics.js';
import { clipRunFields, derainClip, meanMs, type ClipRunFields, type ClipRunOptions } from './clip-run.js';
import { ClipScorer } from './clip-scorer.js';
import { resolveClip, type Clip } from './clip.js';
import { FrameReader } from './frame-reader.js';
import { findMasks } from './masks.js';
import { writeMontage } from './montage.js';
import { renderRain } from './synth-rain.js';
import type { Scores } from './video-scores.js';

export interface EvalVideoOptions extends ModelSettings, ClipRunOptions {
  /** CDnet-style motion masks folder (gtNNNNNN.png) */
  masks?: string;
  montage?: string;
}

export interface EvalVideoSummary extends ClipRunFields {
  /** mean inference time per frame (the fused graph, in its inference process) */
  msPerFrame: number;
  input: Scores;
  output: Scores;
  staticFraction: number;
  movingFraction: number;
  cleanFlickerStatic: number | null;
  /** where static and moving pixels came from */
  masks: string;
  streaks: string | null;
  montage: string | null;
  montageFrame: number | null;
  rainSeconds: number;
  wallSeconds: number;
}

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

/** Rainy frames' luma by frame index, taken as the pipeline reads them. */
class InputLumas {
  private readonly byIndex = new Map<number, Luma>();
  put(f: Frame): void {
    this.byIndex.set(f.seq, lumaOf(f.data, f.width, f.height));
  }
  take(seq: number): Luma {
    const l = this.byIndex.get(seq);
    if (!l) throw new Error(`no input frame ${seq} was seen`);
    this.byIndex.delete(seq);
    return l;
  }
}

/** The pipeline's sink: each derained frame, with its clean frame (and mask), goes to the scorer. */
class ScoringSink implements AbortableSink {
  seen = 0;
  montage: Buffer[] | null = null;

  constructor(
    private readonly clip: Clip,
    private readonly scorer: ClipScorer,
    private readonly inputs: InputLumas,
    private readonly clean: FrameReader,
    private readonly masks: FrameReader | null,
    private readonly rainy: FrameReader | null,
    private readonly montageIndex: number,
    private readonly onFrame?: (done: number, total: number) => void,
  ) {}

  async write(frame: Frame): Promise<void> {
    const out = Buffer.from(frame.data); // (the output slot is the derainer's)
    const input = this.inputs.take(frame.seq);
    const clean = await this.clean.next();
    if (!clean) throw new UserError(`the clean frames ended at ${this.seen} of ${this.clip.frames.length}`, 1);
    const mask = this.masks ? await this.masks.next() : null;
    if (this.masks && !mask) throw new UserError(`the motion masks ended at ${this.seen} of ${this.clip.frames.length}`, 1);
    if (this.seen === this.montageIndex) {
      const rainy = await this.rainy?.next();
      if (!rainy) throw new UserError(`the rainy frame ${this.clip.frames[this.seen].n} of the montage could not be read again`, 1);
      this.montage = [Buffer.from(clean.data), Buffer.from(rainy.data), out];
    }
    this.scorer.push({ clean: clean.data, input, output: out, mask: mask?.data }, this.clip.width, this.clip.height);
    this.seen++;
    this.onFrame?.(this.seen, this.clip.frames.length);
  }

  async close(): Promise<void> {}
}

export async function runEvalVideo(opts: EvalVideoOptions): Promise<EvalVideoSummary> {
  const started = performance.now();
  const { rain: level, seed } = opts;
  const clip = await resolveClip(opts);
  const masks = await findMasks(clip, opts.masks);
  const frame = { width: clip.width, height: clip.height };
  // The model and its settings fail here, before any rain is made.
  checkModel(opts, frame);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'derain-eval-video-'));
  const readers: FrameReader[] = [];
  try {
    let rainInfo: InputInfo;
    let rainSeconds = 0;
    let streaks: string | null = null;
    if (clip.rain) rainInfo = clip.rain;
    else {
      opts.onStage?.(`rendering ${level} rain (seed ${seed}) over ${clip.frames.length} frames`);
      const t = performance.now();
      const r = await renderRain(clip, { rain: level, seed, outDir: path.join(tmp, 'rain') });
      rainSeconds = (performance.now() - t) / 1000;
      rainInfo = r.info;
      streaks = r.streaks;
    }

    const model = await openModel(opts, frame, { purpose: 'file' });
    opts.onStage?.(`model ${model.card.name} at ${model.infer.width}x${model.infer.height} on ${model.ep}, smoothing ${opts.smooth || 'off'}`);
    const scorer = new ClipScorer();
    const inputs = new InputLumas();
    const clean = new FrameReader(clip.clean, clip.skip, clip.frames.length);
    readers.push(clean);
    const maskReader = masks ? new FrameReader(masks.info) : null;
    if (maskReader) readers.push(maskReader);
    const montageIndex = opts.montage ? Math.floor(clip.frames.length / 2) : -1;
    // (the montage's rainy frame: the rainy input decoded again up to it, once)
    const rainy = opts.montage ? new FrameReader(rainInfo, montageIndex, 1) : null;
    if (rainy) readers.push(rainy);
    const sink = new ScoringSink(clip, scorer, inputs, clean, maskReader, rainy, montageIndex, opts.onFrame);
    const stats = await derainClip(rainInfo, model, sink, clip.frames.length, (f) => inputs.put(f));
    const scores = scorer.finish();
    if (scores.frames !== clip.frames.length) throw new UserError(`scored ${scores.frames} of ${clip.frames.length} frames`, 1);
    if (opts.montage && sink.montage) await writeMontage(opts.montage, sink.montage, clip.width, clip.height, tmp);

    return {
      ...clipRunFields(clip, model, opts, scores.frames),
      msPerFrame: meanMs(stats.inferenceMs),
      input: scores.input,
      output: scores.output,
      staticFraction: scores.staticFraction,
      movingFraction: scores.movingFraction,
      cleanFlickerStatic: scores.cleanFlickerStatic,
      masks: masks ? `${masks.auto ? 'cdnet' : 'given'} ${masks.dir}` : 'clean-frame change',
      streaks,
      montage: opts.montage && sink.montage ? opts.montage : null,
      montageFrame: opts.montage ? clip.from + montageIndex : null,
      rainSeconds: round(rainSeconds, 2),
      wallSeconds: round((performance.now() - started) / 1000, 2),
    };
  } finally {
    await Promise.all(readers.map((r) => r.stop()));
    rmSync(tmp, { recursive: true, force: true });
  }
}
