// One `derain eval-detect`: what deraining does for an object detector. The clip and its rain
// are the video benchmark's (a clean clip with the kit's rain at a fixed seed, or rain/ + clean/
// frame folders); the rainy frames go through the `derain run` Pipeline and fused graph; the
// detector runs on the clean, rainy and derained frames, and the rainy and derained detections
// are scored against the clean ones (recall, precision, detections per frame).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../errors.js';
import { Detector, loadDetector, type SetScores } from '../../detect/index.js';
import { checkModel, openModel, type ModelSettings } from '../../infer/index.js';
import type { InputInfo } from '../../ingest/probe.js';
import { clipRunFields, derainClip, meanMs, type ClipRunFields, type ClipRunOptions } from '../video/clip-run.js';
import { resolveClip, type Clip } from '../video/clip.js';
import { FrameReader } from '../video/frame-reader.js';
import { renderRain } from '../video/synth-rain.js';
import { writeAnnotated } from './annotate.js';
import { DetectSink, type FrameDetections } from './detect-sink.js';

export interface EvalDetectOptions extends ModelSettings, ClipRunOptions {
  /** a detector card (.json) or ONNX file; unset: the committed YOLOX-nano card */
  detector?: string;
  /** "vehicles", "all" or class names separated by commas */
  classes: string;
  /** the detector's score threshold (unset: its card's) */
  score?: number;
  /** the IoU at which a detection matches a clean-frame one */
  iou: number;
  annotate?: string;
}

export interface EvalDetectSummary extends ClipRunFields {
  detector: string;
  detectorSource: string;
  classes: string[];
  score: number;
  nmsIou: number;
  iou: number;
  /** the clean frames' detections: what the other sets are scored against */
  clean: { detections: number; detectionsPerFrame: number };
  rainy: SetScores;
  derained: SetScores;
  /** mean ms per frame: the fused deraining graph, and the detector on the three frames */
  msPerFrame: { derain: number; detect: number };
  annotate: string | null;
  annotateFrame: number | null;
  rainSeconds: number;
  wallSeconds: number;
  perFrame: FrameDetections[];
}

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

/** The rainy frames to derain: the pairs folder's, or the kit's rain rendered over the clean clip. */
async function rainyInput(clip: Clip, opts: EvalDetectOptions, tmp: string): Promise<{ info: InputInfo; seconds: number }> {
  if (clip.rain) return { info: clip.rain, seconds: 0 };
  opts.onStage?.(`rendering ${opts.rain} rain (seed ${opts.seed}) over ${clip.frames.length} frames`);
  const t = performance.now();
  const { info } = await renderRain(clip, { rain: opts.rain, seed: opts.seed, outDir: path.join(tmp, 'rain') });
  return { info, seconds: (performance.now() - t) / 1000 };
}

export async function runEvalDetect(opts: EvalDetectOptions): Promise<EvalDetectSummary> {
  const started = performance.now();
  const clip = await resolveClip(opts);
  const frame = { width: clip.width, height: clip.height };
  // Everything that can be wrong with the detector, the model or the PNG fails here, before the rain is made.
  const loaded = loadDetector(opts.detector);
  checkModel(opts, frame);
  if (opts.annotate) {
    try {
      mkdirSync(path.dirname(path.resolve(opts.annotate)), { recursive: true });
    } catch (err) {
      throw new UserError(`--annotate ${opts.annotate}: cannot make its folder: ${(err as Error).message}`);
    }
  }
  const detector = await Detector.open(loaded, frame, { ep: opts.ep, threads: opts.threads, classes: opts.classes, score: opts.score });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'derain-eval-detect-'));
  const readers: FrameReader[] = [];
  try {
    const rain = await rainyInput(clip, opts, tmp);
    const model = await openModel(opts, frame, { purpose: 'file' });
    opts.onStage?.(`model ${model.card.name} at ${model.infer.width}x${model.infer.height} on ${model.ep}, smoothing ${opts.smooth || 'off'}; detector ${detector.card.name} on ${detector.ep}`);
    const clean = new FrameReader(clip.clean, clip.skip, clip.frames.length);
    const rainy = new FrameReader(rain.info);
    readers.push(clean, rainy);
    const keepIndex = opts.annotate ? Math.floor(clip.frames.length / 2) : -1;
    const sink = new DetectSink(clip, detector, { clean, rainy }, opts.iou, keepIndex, opts.onFrame);
    const stats = await derainClip(rain.info, model, sink, clip.frames.length);
    const frames = sink.perFrame.length;
    if (frames !== clip.frames.length) throw new UserError(`detected on ${frames} of ${clip.frames.length} frames`, 1);
    if (opts.annotate && sink.kept) await writeAnnotated(opts.annotate, sink.kept, clip.width, clip.height, tmp);
    return {
      ...clipRunFields(clip, model, opts, frames),
      detector: detector.card.name,
      detectorSource: loaded.source,
      classes: detector.classes,
      score: detector.score,
      nmsIou: detector.nmsIou,
      iou: opts.iou,
      clean: { detections: sink.cleanDetections, detectionsPerFrame: round(sink.cleanDetections / Math.max(1, frames), 4) },
      rainy: sink.rainy.result(),
      derained: sink.derained.result(),
      msPerFrame: { derain: meanMs(stats.inferenceMs), detect: round(sink.detectMs / Math.max(1, frames), 2) },
      annotate: opts.annotate && sink.kept ? opts.annotate : null,
      annotateFrame: sink.kept ? sink.kept.n : null,
      rainSeconds: round(rain.seconds, 2),
      wallSeconds: round((performance.now() - started) / 1000, 2),
      perFrame: sink.perFrame,
    };
  } finally {
    await Promise.all(readers.map((r) => r.stop()));
    await detector.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
