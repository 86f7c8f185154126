#!/usr/bin/env node
// The `derain` command line.
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { UserError, redactUrl } from './errors.js';
import { chooseModel, isInferUserError } from './infer/index.js';
import { runJob, type RunSummary } from './run-job.js';
import { ffmpegPath } from './util/ffmpeg.js';
import { registerEvalCommand } from './cli/eval-command.js';
import { registerEvalVideoCommand } from './cli/eval-video-command.js';
import { registerEvalDetectCommand } from './cli/eval-detect-command.js';
import { registerServeCommand } from './cli/serve-command.js';
import { registerModelsCommand } from './cli/models-command.js';
import { addModelFlags, cliModelSettings, number, type ModelFlags } from './cli/flags.js';

function humanSummary(s: RunSummary): string {
  const lines = [
    `derained ${s.framesOut}/${s.framesIn} frames of ${s.width}x${s.height} in ${s.wallSeconds.toFixed(1)} s (${s.fps.toFixed(1)} fps)`,
    `  model ${s.model} at ${s.inferWidth}x${s.inferHeight} on ${s.ep}; inference p50 ${s.inferenceMs.p50.toFixed(1)} ms, p95 ${s.inferenceMs.p95.toFixed(1)} ms`,
    `  output: ${s.output ?? '(none)'}`,
  ];
  if (s.framesDropped > 0) lines.push(`  dropped: ${s.framesDropped} frames (live input)`);
  if (s.note) lines.push(`  note: ${s.note}`);
  return lines.join('\n');
}

interface RunFlags extends ModelFlags {
  output?: string;
  fps?: number;
  json?: boolean;
}

async function runCommand(input: string, flags: RunFlags): Promise<void> {
  const interactive = process.stderr.isTTY && !process.env.CI;
  let bar: cliProgress.SingleBar | null = null;
  let startedAt = 0;
  // Ctrl-C: finish what is in flight and keep it, marked incomplete. A second one exits at once.
  const interrupt = new AbortController();
  let firstAt = 0;
  process.on('SIGINT', () => {
    if (!firstAt) {
      firstAt = Date.now();
      process.stderr.write('\nderain: interrupted; finishing the frames in flight (Ctrl-C again to quit now)\n');
      interrupt.abort();
    } else if (Date.now() - firstAt > 500) {
      // (npx forwards the terminal's Ctrl-C too, so one press can arrive twice: only a later one counts)
      process.exit(130);
    }
  });
  const settings = cliModelSettings({ ...flags, smooth: flags.smooth === false ? 0 : flags.smooth });
  const summary = await runJob({
    ...settings,
    input,
    output: flags.output,
    fps: flags.fps,
    signal: interrupt.signal,
    onStart: (info, ctx) => {
      const skipped = ctx.skipped.length ? ` (passed over: ${ctx.skipped.join('; ')})` : '';
      process.stderr.write(
        `derain: ${info.display} ${info.width}x${info.height} @ ${info.fps.toFixed(2)} fps; model ${ctx.model} at ${ctx.infer.width}x${ctx.infer.height}; execution provider ${ctx.ep}${skipped}\n`,
      );
      startedAt = performance.now();
      if (interactive && info.frameCount) {
        bar = new cliProgress.SingleBar(
          { format: 'derain [{bar}] {value}/{total} frames | {fps} fps | ETA {eta_formatted}', stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(info.frameCount, 0, { fps: '0.0' });
      }
    },
    onFrame: (stats) => {
      const fps = stats.framesOut / Math.max(1e-3, (performance.now() - startedAt) / 1000);
      (bar as cliProgress.SingleBar | null)?.update(stats.framesOut, { fps: fps.toFixed(1) });
    },
  }).finally(() => (bar as cliProgress.SingleBar | null)?.stop());
  if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
  process.stderr.write(humanSummary(summary) + '\n');
}

export function buildProgram(): Command {
  const program = new Command('derain').description('Remove rain from camera video: ffmpeg in, onnxruntime deraining, video out.').showHelpAfterError().exitOverride();

  addModelFlags(
    program
      .command('run')
      .description('derain a video file, an image folder or pattern, or an rtsp:// stream')
      .argument('<input>', 'video file, image folder, pattern such as frames/%03d.png, or rtsp:// URL')
      .option('-o, --output <path>', 'output: video file (.mp4 .mkv .mov), folder for PNG frames, or - for none', '-'),
    chooseModel(undefined, 'auto').name,
  )
    .addOption(new Option('--fps <n>', 'frame rate of image inputs (default 25)').argParser(number('--fps')))
    .option('--json', 'print one JSON summary on stdout')
    .action(runCommand);

  program
    .command('ffmpeg')
    .description('run the bundled ffmpeg (or FFMPEG_PATH), for example to make a clip from frames')
    .argument('[args...]', 'ffmpeg arguments')
    .allowUnknownOption()
    .helpOption(false)
    .action(
      (args: string[]) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(ffmpegPath(), args, { stdio: 'inherit' });
          child.on('error', reject);
          child.on('close', (code) => (code === 0 ? resolve() : reject(new UserError(`ffmpeg exited with code ${code}`, 1))));
        }),
    );
  registerEvalCommand(program);
  registerEvalVideoCommand(program);
  registerEvalDetectCommand(program);
  registerServeCommand(program);
  registerModelsCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.')) {
      // commander has printed its message; help and version are not errors.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
    }
    // The user's to fix: bad arguments or inputs (2), or a run that failed while working (1).
    if (err instanceof UserError || isInferUserError(err)) {
      process.stderr.write(`derain: error: ${redactUrl(e.message)}\n`);
      if (process.env.DEBUG) process.stderr.write(`${e.stack}\n`);
      return err instanceof UserError ? err.exitCode : 2;
    }
    process.stderr.write(`derain: error: ${redactUrl(e.message ?? String(err))}\n`);
    if (process.env.DEBUG) process.stderr.write(`${e.stack}\n`);
    else process.stderr.write('(set DEBUG=1 for the stack trace)\n');
    return 1;
  }
}

// Run when executed directly (the bin, or `tsx src/cli.ts`), not when imported by tests.
const self = fileURLToPath(import.meta.url);
if (process.argv[1] && realpathSync(process.argv[1]) === self) {
  // An error nobody caught still ends the process as Node would, stack and all (for the bug
  // report), but its message may quote a camera URL or a ?token=: those are hidden first.
  process.on('uncaughtException', (err) => {
    process.stderr.write(`derain: crashed: ${redactUrl(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
    process.exit(1);
  });
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
