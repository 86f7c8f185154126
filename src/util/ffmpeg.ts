// Where ffmpeg and ffprobe live, and how to run them: argument arrays, never a shell.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';

const require = createRequire(import.meta.url);

export function ffmpegPath(): string {
  return process.env.FFMPEG_PATH || (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
}

export function ffprobePath(): string {
  return process.env.FFPROBE_PATH || (require('@ffprobe-installer/ffprobe') as { path: string }).path;
}

export const QUIET = ['-hide_banner', '-nostdin', '-loglevel', 'error'];

/** Keeps the last lines of a process's stderr, for error messages. */
export function stderrTail(child: ChildProcess, maxLines = 20): () => string {
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).split('\n').slice(-maxLines).join('\n');
  });
  return () => tail.trim();
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** killed by us at the time limit (a signal without it: the tool crashed, or someone else killed it) */
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion (ffprobe, small ffmpeg jobs) and collects its output; `signal` ends it early (killed). */
export function runTool(file: string, args: string[], timeoutMs = 60_000, signal?: AbortSignal): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], signal, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      // (an abort is no failure to start: 'close' follows with the signal)
      if (err.name === 'AbortError') return;
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout, stderr });
    });
  });
}

/** The first meaningful line of an ffmpeg error, without the file-name prefix ffmpeg adds. */
export function ffmpegReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.find((l) => /invalid|not found|no such|error|moov|denied|refused|timed out|unsupported/i.test(l)) ?? lines[lines.length - 1] ?? 'unknown error';
  // Drop ffmpeg's "[mov,mp4 @ 0x…]" and "file.mp4: " prefixes: the caller names the input.
  return line.replace(/^\[[^\]]*\]\s*/, '').replace(/^\S+: (?=\S)/, '');
}

/**
 * Threads for one camera's decoder or encoder: one up to 1080p, one more per 1080p's worth of
 * pixels beyond, at most the cores. With a thread each, cameras are what runs in parallel: by
 * default ffmpeg gives every decoder and x264 encoder threads for all the cores (x264: 1.5 per
 * core), which a machine of many cameras pays for in switches, and the decoder's frame threads
 * delay each frame by one per extra thread (at 25 fps, 40 ms each). A 4K camera still gets four.
 */
export function threadsFor(width: number, height: number): number {
  return Math.max(1, Math.min(os.availableParallelism(), Math.ceil((width * height) / (1920 * 1080))));
}

/**
 * Lowers an ffmpeg child's CPU priority by DERAIN_FFMPEG_NICE (default 0: unchanged), so that on
 * a machine with few cores the inference threads are not preempted by the decoder and encoder.
 */
export function deprioritize(pid: number | undefined): void {
  const nice = Number(process.env.DERAIN_FFMPEG_NICE ?? 0);
  if (!pid || !nice) return;
  try {
    os.setPriority(pid, Math.max(-20, Math.min(19, nice)));
  } catch {
    // not permitted or already gone: the default priority is fine
  }
}
