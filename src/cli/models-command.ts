// `derain models` (the models and their cards) and `derain models import <name>` (builds a
// generated ONNX file from the TensorFlow.js model its card names).
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { BUILTIN_MODELS, MODELS_DIR, chooseModel, importSource, importSpecOf, importTfjsModel, measureSpeed, readCard, resolveModel, type ModelCard } from '../infer/index.js';

export interface ModelEntry {
  name: string;
  /** "built-in", or the card's folder */
  location: string;
  /** the ONNX file is there (or the model is built in) */
  ready: boolean;
  default: boolean;
  card: ModelCard;
}

function cardFolders(): string[] {
  if (!existsSync(MODELS_DIR)) return [];
  return readdirSync(MODELS_DIR)
    .map((d) => path.join(MODELS_DIR, d))
    .filter((d) => statSync(d).isDirectory() && existsSync(path.join(d, 'card.json')))
    .sort();
}

export function listModels(): ModelEntry[] {
  // what `derain run` picks without --model (its --ep defaults to auto)
  const def = chooseModel(undefined, 'auto').name;
  const builtins = Object.keys(BUILTIN_MODELS).map((name) => ({ name, location: 'built-in', ready: true, default: name === def, card: resolveModel(name).card }));
  const carded = cardFolders().map((dir) => {
    const card = readCard(path.join(dir, 'card.json'));
    const name = path.basename(dir);
    return { name, location: path.relative(process.cwd(), dir) || dir, ready: existsSync(path.join(dir, card.onnx ?? 'model.onnx')), default: name === def, card };
  });
  return [...builtins, ...carded];
}

function quality(card: ModelCard): string {
  const q = card.quality as { rain100h?: { psnr?: number; ssim?: number; n?: number } } | undefined;
  const r = q?.rain100h;
  return r?.psnr ? `Rain100H ${r.psnr.toFixed(2)} dB / ${r.ssim?.toFixed(3) ?? '?'}${r.n && r.n !== 100 ? ` (${r.n} images)` : ''}` : '-';
}

function speed(card: ModelCard): string {
  const s = card.speed as { msPerFrame640x360?: number; gflopPerFrame?: number } | undefined;
  if (!s?.msPerFrame640x360) return '-';
  return `${s.msPerFrame640x360 >= 1000 ? `${(s.msPerFrame640x360 / 1000).toFixed(1)} s` : `${Math.round(s.msPerFrame640x360)} ms`}/frame${s.gflopPerFrame ? `, ${Math.round(s.gflopPerFrame)} GFLOP` : ''}`;
}

function table(entries: ModelEntry[]): string {
  const rows = entries.map((e) => [
    `${e.name}${e.default ? ' (default)' : ''}`,
    e.ready ? e.location : `${e.location} (not built: ${e.card.build ?? 'no ONNX file'})`,
    String(e.card.sizeMultiple),
    quality(e.card),
    speed(e.card),
    e.card.license ?? '-',
  ]);
  const head = ['model', 'where', 'multiple', 'quality', 'speed at 640x360 (CPU)', 'licence'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const sources = entries.filter((e) => (e.card as { source?: string }).source ?? e.card.provenance).map((e) => `  ${e.name}: ${(e.card as { source?: string }).source ?? e.card.provenance}`);
  return [line(head), ...rows.map(line), '', 'source:', ...sources].join('\n');
}

function importByName(spec: string): void {
  const dir = existsSync(spec) && statSync(spec).isDirectory() ? spec : path.join(MODELS_DIR, spec);
  const cardFile = path.join(dir, 'card.json');
  if (!existsSync(cardFile))
    throw new UserError(existsSync(dir) ? `model folder ${dir} has no card.json (the card says what to import)` : `unknown model "${spec}": no card.json in ${dir} (no such folder)`);
  const card = readCard(cardFile);
  const importSpec =
    importSpecOf(card) ??
    (() => {
      throw new UserError(`model ${card.name} has nothing to import: its card has no "import" field`);
    })();
  const { modelJson, label } = importSource(importSpec, dir, card.name);
  const out = path.join(dir, card.onnx ?? 'model.onnx');
  process.stderr.write(`derain: importing ${label}\n`);
  const r = importTfjsModel(modelJson, out, label);
  process.stdout.write(`built ${path.relative(process.cwd(), r.file) || r.file} (${(r.bytes / 1e6).toFixed(1)} MB, ${r.nodes} nodes) in ${r.seconds.toFixed(1)} s\n`);
}

export function registerModelsCommand(program: Command): void {
  const models = program
    .command('models')
    .description('list the models with their cards (name, source, licence, size multiple, quality, speed)')
    .option('--json', 'print the list as JSON')
    .action((flags: { json?: boolean }) => {
      const entries = listModels();
      process.stdout.write(flags.json ? `${JSON.stringify(entries)}\n` : `${table(entries)}\n`);
    });
  models
    .command('import')
    .description('build a generated model (its ONNX file) from the TensorFlow.js model its card names, e.g. maxim-derain')
    .argument('<name>', 'model name under models/, or a folder with card.json')
    .action(importByName);
  models
    .command('speed')
    .description("time a model as derain run runs it on a 640x360 frame (its card's inference size, CPU): ms per frame and GFLOP per frame")
    .argument('<name>', 'model name, folder with card.json, or ONNX file')
    .option(
      '--frames <n>',
      'timed frames, after one warm-up',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new UserError('--frames must be a positive integer');
        return n;
      },
      3,
    )
    .option('--threads <n>', 'onnxruntime threads (default: all cores)', (v) => Number(v))
    .action(async (name: string, flags: { frames: number; threads?: number }, cmd: Command) => {
      const r = await measureSpeed(name, { frames: flags.frames, threads: flags.threads });
      // (--json belongs to `derain models` too; commander hands it to the parent)
      process.stdout.write(
        cmd.optsWithGlobals().json
          ? `${JSON.stringify(r)}\n`
          : `${r.model}: ${r.msPerFrame} ms/frame (median of ${r.msEach.length}: ${r.msEach.join(', ')}), ${r.gflopPerFrame} GFLOP/frame, ${r.width}x${r.height} at ${r.inferWidth}x${r.inferHeight} on ${r.ep} with ${r.threads} threads\n`,
      );
    });
}
