// Shared test helpers: real ffmpeg, the real CLI, temporary folders.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { ffmpegPath, ffprobePath } from '../src/util/ffmpeg.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED_DATA = path.resolve(ROOT, '..', 'shared', 'data');
export const REAL_VIDEO_DIR = path.join(SHARED_DATA, 'real-video-j4rnet');

// CLI runs that test the pipeline use the small built-in model unless they name one: the default
// model (maxim-derain) takes seconds per frame on a CPU. Child processes inherit this.
process.env.DERAIN_DEFAULT_MODEL ??= 'builtin-tiny';

export function tmpDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'derain-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function ffmpeg(args: string[]): void {
  const r = spawnSync(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

/** Decoded frame count and size of a video, by actually decoding it. */
export function countFrames(file: string): { frames: number; width: number; height: number } {
  const r = spawnSync(ffprobePath(), ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,width,height', '-of', 'json', file], { encoding: 'utf8' });
  const s = JSON.parse(r.stdout).streams[0];
  return { frames: Number(s.nb_read_frames), width: s.width, height: s.height };
}

/** Decodes a video or image to raw rgb24 frames. */
export function decodeRgb(file: string): Buffer {
  const r = spawnSync(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`decode ${file} failed: ${r.stderr}`);
  return r.stdout;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI from sources, as a separate process. */
export function derain(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`derain ${args.join(' ')} hung (killed after ${opts.timeoutMs ?? 120000} ms)\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A synthetic clip made by ffmpeg's test source. */
export function makeClip(file: string, opts: { width: number; height: number; frames: number; fps?: number; vfr?: boolean }): void {
  const fps = opts.fps ?? 25;
  const vf = opts.vfr ? ['-vf', `setpts='(N/${fps} + 0.013*mod(N\\,3))/TB'`] : [];
  const codec = file.endsWith('.mkv') ? ['-c:v', 'ffv1'] : ['-c:v', 'libx264', '-pix_fmt', 'yuv444p', '-crf', '10'];
  ffmpeg(['-f', 'lavfi', '-i', `testsrc=size=${opts.width}x${opts.height}:rate=${fps}`, '-frames:v', String(opts.frames), ...vf, '-vsync', '0', ...codec, file]);
}
