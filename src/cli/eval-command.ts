// `derain eval`: PSNR/SSIM of a model on a rain/norain image set.
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { runEval, type EvalSummary } from '../eval/run-eval.js';
import { EP_CHOICES, MODEL_DEFAULTS, type EpChoice } from '../infer/index.js';
import { cliModelSettings, number } from './flags.js';

interface EvalFlags {
  model?: string;
  data: string;
  limit?: number;
  inferSize?: string;
  scale?: number;
  ep: EpChoice;
  threads?: number;
  json?: boolean;
}

function table(s: EvalSummary): string {
  const w = Math.max(5, ...s.perImage.map((r) => r.name.length));
  const row = (name: string, size: string, p: string, q: string, ip: string, iq: string) =>
    `${name.padEnd(w)}  ${size.padEnd(9)}  ${p.padStart(6)}  ${q.padStart(6)}   ${ip.padStart(10)}  ${iq.padStart(10)}`;
  const num = (v: number, d: number) => v.toFixed(d);
  const lines = [row('image', 'size', 'PSNR', 'SSIM', 'input PSNR', 'input SSIM')];
  for (const r of s.perImage) lines.push(row(r.name, `${r.width}x${r.height}`, num(r.psnr, 2), num(r.ssim, 4), num(r.inputPsnr, 2), num(r.inputSsim, 4)));
  lines.push(row('mean', `(${s.n})`, num(s.psnr, 2), num(s.ssim, 4), num(s.inputPsnr, 2), num(s.inputSsim, 4)), '', summaryLines(s));
  return lines.join('\n');
}

function summaryLines(s: EvalSummary): string {
  const sizes = [...new Set(s.perImage.map((r) => (r.inferWidth === r.width && r.inferHeight === r.height ? 'full resolution' : `${r.inferWidth}x${r.inferHeight}`)))];
  return [
    `model ${s.model} (${sizes.join(', ')}) on ${s.ep}: PSNR ${s.psnr.toFixed(2)} dB, SSIM ${s.ssim.toFixed(4)}; input ${s.inputPsnr.toFixed(2)} dB, ${s.inputSsim.toFixed(4)}`,
    `${s.n} images in ${s.wallSeconds.toFixed(1)} s, inference ${s.msPerImage.toFixed(1)} ms/image (Y channel; PSNR capped at 100 dB)`,
  ].join('\n');
}

async function evalCommand(flags: EvalFlags): Promise<void> {
  const interactive = process.stderr.isTTY && !process.env.CI;
  let bar: cliProgress.SingleBar | null = null;
  const { smooth: _smooth, ...settings } = cliModelSettings(flags);
  const summary = await runEval({
    ...settings,
    data: flags.data,
    limit: flags.limit,
    onStart: ({ model, pairs }) => {
      process.stderr.write(`derain eval: model ${model} on ${pairs} image pair${pairs === 1 ? '' : 's'} of ${flags.data}\n`);
      if (interactive) {
        bar = new cliProgress.SingleBar({ format: 'eval [{bar}] {value}/{total} images | ETA {eta_formatted}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(pairs, 0);
      }
    },
    onImage: (done) => (bar as cliProgress.SingleBar | null)?.update(done),
  }).finally(() => (bar as cliProgress.SingleBar | null)?.stop());
  if (flags.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    process.stderr.write(summaryLines(summary) + '\n');
  } else process.stdout.write(table(summary) + '\n');
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description("measure a model on a rain/norain image set: PSNR and SSIM on Y, per image and mean, beside the input's")
    .option('--model <name|path>', 'model name, model folder with card.json, or ONNX file (default: the default model)')
    .requiredOption('--data <dir>', 'folder holding rain/ and norain/ with matching image names')
    .addOption(new Option('--limit <N>', 'only the first N pairs, in natural name order').argParser(number('--limit')))
    .addOption(new Option('--infer-size <WxH>', "inference resolution, turned to each image's orientation (default: full resolution)").conflicts('scale'))
    .addOption(new Option('--scale <s>', 'inference resolution as a fraction of each image, in (0, 1]').argParser(number('--scale')))
    .addOption(new Option('--ep <provider>', 'execution provider').choices(EP_CHOICES as string[]).default(MODEL_DEFAULTS.ep))
    .addOption(new Option('--threads <n>', 'onnxruntime threads (default: all cores)').argParser(number('--threads')))
    .option('--json', 'print one JSON object on stdout')
    .action(evalCommand);
}
