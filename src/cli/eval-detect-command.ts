// `derain eval-detect`: what deraining does for an object detector. The video benchmark's clip
// and rain, the `derain run` pipeline, and a detector on the clean, rainy and derained frames.
import { Option, type Command } from 'commander';
import { UserError } from '../errors.js';
import type { SetScores } from '../detect/index.js';
import { runEvalDetect, type EvalDetectSummary } from '../eval/detect/run-eval-detect.js';
import { addClipFlags, clipOptions, type ClipFlags } from './clip-flags.js';
import { addModelFlags, cliModelSettings, number, type ModelFlags } from './flags.js';
import { reportRun } from './progress.js';

interface EvalDetectFlags extends ModelFlags, ClipFlags {
  detector?: string;
  classes: string;
  score?: number;
  iou: number;
  annotate?: string;
  json?: boolean;
}

const fixed = (v: number | null, d: number) => (v === null ? '-' : v.toFixed(d));

function table(s: EvalDetectSummary): string {
  const row = (name: string, dets: number, perFrame: number, r?: SetScores) =>
    `${name.padEnd(10)}${String(dets).padStart(11)}${perFrame.toFixed(2).padStart(11)}${(r ? String(r.matched) : '').padStart(9)}${(r ? fixed(r.recall, 3) : '').padStart(8)}${(r ? fixed(r.precision, 3) : '').padStart(11)}`;
  const rain = s.rain === null ? 'rain from the pairs folder' : `${s.rain} rain, seed ${s.seed}`;
  return [
    `${s.clip}, frames ${s.from}-${s.to} (${s.frames}) at ${s.width}x${s.height}; ${rain}`,
    `model ${s.model} at ${s.inferWidth}x${s.inferHeight} on ${s.ep}, smoothing ${s.smooth || 'off'}`,
    `detector ${s.detector} (${s.detectorSource}): ${s.classes.join(', ')}; score >= ${s.score}, class-agnostic NMS ${s.nmsIou}`,
    '',
    `${''.padEnd(10)}${'detections'.padStart(11)}${'per frame'.padStart(11)}${'matched'.padStart(9)}${'recall'.padStart(8)}${'precision'.padStart(11)}`,
    row('clean', s.clean.detections, s.clean.detectionsPerFrame),
    row('rainy', s.rainy.detections, s.rainy.detectionsPerFrame, s.rainy),
    row('derained', s.derained.detections, s.derained.detectionsPerFrame, s.derained),
    '',
    `matched: IoU >= ${s.iou} with a clean-frame detection (each once); recall = matched / clean detections`,
    `deraining ${s.msPerFrame.derain.toFixed(1)} ms/frame, detector ${s.msPerFrame.detect.toFixed(1)} ms/frame (three frames); rain ${s.rainSeconds.toFixed(1)} s; total ${s.wallSeconds.toFixed(1)} s${s.annotate ? `; annotated frame ${s.annotateFrame}: ${s.annotate}` : ''}`,
  ].join('\n');
}

async function evalDetectCommand(clip: string | undefined, flags: EvalDetectFlags): Promise<void> {
  const request = clipOptions(clip, flags);
  if (flags.annotate !== undefined && !/\.png$/i.test(flags.annotate)) throw new UserError(`--annotate ${flags.annotate}: the annotated frame is a .png file`);
  if (flags.score !== undefined && !(flags.score >= 0 && flags.score <= 1)) throw new UserError(`--score ${flags.score} must be in [0, 1]`);
  if (!(flags.iou > 0 && flags.iou <= 1)) throw new UserError(`--iou ${flags.iou} must be in (0, 1]`);
  const settings = cliModelSettings({ ...flags, smooth: flags.smooth === false ? 0 : flags.smooth });
  const run = { detector: flags.detector, classes: flags.classes, score: flags.score, iou: flags.iou, annotate: flags.annotate };
  await reportRun('eval-detect', flags.json, (hooks) => runEvalDetect({ ...settings, ...request, ...run, ...hooks }), table);
}

export function registerEvalDetectCommand(program: Command): void {
  addModelFlags(
    addClipFlags(
      program
        .command('eval-detect')
        .description(
          "what deraining does for a detector: the video benchmark's clip and rain through the `derain run` pipeline; detector recall and precision on rainy and derained frames against its detections on the clean frames",
        ),
    ),
    'the default model',
  )
    .option('--detector <card|onnx>', 'detector card (.json) or ONNX file (YOLOX-style head, COCO classes); default: detectors/yolox-nano.json')
    .option('--classes <which>', 'classes that count: vehicles (the card\'s), all, or names such as "car,truck"', 'vehicles')
    .addOption(new Option('--score <s>', "detector score threshold (default: the card's, 0.3 for YOLOX-nano)").argParser(number('--score')))
    .addOption(new Option('--iou <v>', 'IoU at which a detection matches a clean-frame detection').default(0.5).argParser(number('--iou')))
    .option('--annotate <out.png>', "write the middle frame as clean | rainy | derained with the clean boxes (green) and each set's boxes (magenta)")
    .option('--json', 'print one JSON object on stdout')
    .action(evalDetectCommand);
}
