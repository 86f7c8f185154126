// Rainy frames for the benchmark from the kit's rain generator (models/fclip_unet/video_rain.py):
// the clean frames, decoded here by the same decoder that later reads them back for scoring, go
// to it as raw rgb24 on a pipe (so the rain lands on exactly the pixels it is scored against),
// and it writes 000001.png, 000002.png, ... into a folder. Spawned with an argument array, no shell.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../errors.js';
import { MODELS_DIR } from '../../infer/index.js';
import type { InputInfo } from '../../ingest/probe.js';
import type { Clip } from './clip.js';
import { FrameReader } from './frame-reader.js';

export const RAIN_LEVELS = ['none', 'light', 'medium', 'heavy'] as const;
export type RainLevel = (typeof RAIN_LEVELS)[number];

/** The project root: the kit runs as the module models.fclip_unet.video_rain from there. */
const ROOT = path.dirname(MODELS_DIR);

/** The Garg-Nayar streak layers (../shared/data), or DERAIN_RAIN_STREAKS; without them the generator draws procedural streaks. */
export function streakFolder(): string | undefined {
  const dir = process.env.DERAIN_RAIN_STREAKS ?? path.resolve(ROOT, '..', 'shared', 'data', 'rain-streaks-garg-nayar');
  return dir && existsSync(dir) ? dir : undefined;
}

export function pythonPath(): string {
  return process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

export interface RainRender {
  /** the rainy frames, as an input to decode */
  info: InputInfo;
  seconds: number;
  streaks: 'garg-nayar' | 'procedural' | 'none';
  params: Record<string, unknown>;
}

export async function renderRain(clip: Clip, opts: { rain: RainLevel; seed: number; outDir: string }): Promise<RainRender> {
  const streaks = opts.rain === 'none' ? undefined : streakFolder();
  const args = ['-m', 'models.fclip_unet.video_rain', '--raw', `${clip.width}x${clip.height}`, '--out', opts.outDir, '--rain', opts.rain, '--seed', String(opts.seed)];
  if (streaks) args.push('--streaks', streaks);
  const child = spawn(pythonPath(), args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, error }));
    child.on('close', (code) => resolve({ code }));
  });
  // (a generator that dies early closes its stdin: the write fails, the exit says why)
  child.stdin.on('error', () => {});

  const reader = new FrameReader(clip.clean, clip.skip, clip.frames.length);
  let fed = 0;
  try {
    for (let f = await reader.next(); f; f = await reader.next()) {
      if (child.exitCode !== null || child.stdin.destroyed) break;
      fed++;
      if (!child.stdin.write(f.data)) await Promise.race([new Promise((resolve) => child.stdin.once('drain', resolve)), exited]);
    }
  } finally {
    child.stdin.end();
    await reader.stop();
  }
  const { code, error } = await exited;
  const why = stderr.trim().split('\n').filter(Boolean).pop();
  if (error) throw new UserError(`cannot start the rain generator (${pythonPath()}; set PYTHON to a Python with torch and torchvision): ${error.message}`, 1);
  if (code !== 0) throw new UserError(`the rain generator (models/fclip_unet/video_rain.py) failed: ${why ?? `exit code ${code}`}`, 1);
  if (fed < clip.frames.length) throw new UserError(`${clip.display} ended at frame ${clip.from + fed - 1}, before --to ${clip.to}`);
  let summary: { seconds?: number; params?: Record<string, unknown> } = {};
  try {
    summary = JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
  } catch {
    /* the frames are what counts */
  }
  const files = readdirSync(opts.outDir)
    .filter((f) => /^\d{6}\.png$/.test(f))
    .sort()
    .map((f) => path.join(opts.outDir, f));
  if (files.length !== fed) throw new UserError(`the rain generator wrote ${files.length} frames for ${fed}`, 1);
  const info: InputInfo = {
    kind: 'images',
    display: 'the rainy frames',
    location: opts.outDir,
    files,
    width: clip.width,
    height: clip.height,
    fps: clip.clean.fps,
    frameCount: files.length,
    frameCountExact: true,
  };
  return { info, seconds: summary.seconds ?? 0, streaks: opts.rain === 'none' ? 'none' : streaks ? 'garg-nayar' : 'procedural', params: summary.params ?? {} };
}
