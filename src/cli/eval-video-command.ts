// `derain eval-video`: the video benchmark. A clean clip with synthetic rain (or rain/ + clean/
// frame folders) through the `derain run` pipeline, scored on all, static and moving pixels.
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { runEvalVideo, type EvalVideoSummary } from '../eval/video/run-eval-video.js';
import type { Scores } from '../eval/video/video-scores.js';
import { addClipFlags, clipOptions, type ClipFlags } from './clip-flags.js';
import { addModelFlags, cliModelSettings, type ModelFlags } from './flags.js';
import { reportRun } from './progress.js';

interface EvalVideoFlags extends ModelFlags, ClipFlags {
  masks?: string;
  montage?: string;
  json?: boolean;
}

const num = (v: number | null, d: number, w: number) => (v === null ? '-' : v.toFixed(d)).padStart(w);

function table(s: EvalVideoSummary): string {
  const head = `${''.padEnd(12)}${'PSNR'.padStart(8)}${'static'.padStart(8)}${'moving'.padStart(8)}${'SSIM'.padStart(9)}${'static'.padStart(8)}${'moving'.padStart(8)}${'flicker'.padStart(9)}`;
  const row = (name: string, r: Scores) =>
    `${name.padEnd(12)}${num(r.psnr, 2, 8)}${num(r.psnrStatic, 2, 8)}${num(r.psnrMoving, 2, 8)}${num(r.ssim, 4, 9)}${num(r.ssimStatic, 4, 8)}${num(r.ssimMoving, 4, 8)}${num(r.flickerStatic, 2, 9)}`;
  const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
  const rain = s.rain === null ? 'rain from the pairs folder' : `${s.rain} rain, seed ${s.seed}${s.streaks ? ` (${s.streaks} streaks)` : ''}`;
  return [
    `${s.clip}, frames ${s.from}-${s.to} (${s.frames}) at ${s.width}x${s.height}; ${rain}`,
    `model ${s.model} at ${s.inferWidth}x${s.inferHeight} on ${s.ep}, smoothing ${s.smooth || 'off'}`,
    '',
    head,
    row('rainy input', s.input),
    row('derained', s.output),
    '',
    `Y channel; PSNR pooled over all frames (capped at 100 dB); flicker: mean |ΔY| between frames on static pixels minus the clean frames' (${s.cleanFlickerStatic ?? '-'})`,
    `static ${pct(s.staticFraction)} of pixels, moving ${pct(s.movingFraction)} (${s.masks})`,
    `inference ${s.msPerFrame.toFixed(1)} ms/frame; rain ${s.rainSeconds.toFixed(1)} s; total ${s.wallSeconds.toFixed(1)} s${s.montage ? `; montage (frame ${s.montageFrame}: clean | rainy | derained) ${s.montage}` : ''}`,
  ].join('\n');
}

async function evalVideoCommand(clip: string | undefined, flags: EvalVideoFlags): Promise<void> {
  const request = clipOptions(clip, flags);
  if (flags.montage !== undefined && !/\.png$/i.test(flags.montage)) throw new UserError(`--montage ${flags.montage}: the montage is a .png file`);
  const settings = cliModelSettings({ ...flags, smooth: flags.smooth === false ? 0 : flags.smooth });
  await reportRun('eval-video', flags.json, (hooks) => runEvalVideo({ ...settings, ...request, masks: flags.masks, montage: flags.montage, ...hooks }), table);
}

export function registerEvalVideoCommand(program: Command): void {
  addModelFlags(
    addClipFlags(
      program
        .command('eval-video')
        .description('video benchmark: a clean clip with synthetic rain (or rain/ + clean/ frames) through the `derain run` pipeline; Y-PSNR, SSIM and flicker on all, static and moving pixels'),
    ),
    'the default model',
  )
    .option('--masks <dir>', "motion masks gtNNNNNN.png (CDnet: 255 moving, 0 static; default: groundtruth/ beside a CDnet input/ folder, else the clean frames' own change)")
    .option('--montage <out.png>', 'write the middle frame side by side: clean | rainy | derained')
    .option('--json', 'print one JSON object on stdout')
    .action(evalVideoCommand);
}
