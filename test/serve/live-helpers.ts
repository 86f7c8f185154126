// Helpers for live tests: free ports, a real RTSP "camera" (ffmpeg publishing a looped clip
// to a real RTSP server), reading RTSP output with ffmpeg, polling HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { ffmpegPath } from '../../src/util/ffmpeg.ts';
import { EmbeddedRtspServer } from '../../src/egress/rtsp/embedded-server.ts';
import { after } from 'node:test';
import { ROOT, SHARED_DATA, countFrames, ffmpeg } from '../helpers.ts';

export const CAR_CLIP = path.join(SHARED_DATA, 'traffic-video', 'car-detection.mp4');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** An even UDP base port for an RTSP server's RTP range, away from other tests' ranges. */
export function rtpBase(): number {
  return 20000 + 2 * Math.floor(Math.random() * 15000);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/** A short, small clip of the real traffic video, with a keyframe every half second, to publish without re-encoding. */
export function makeCameraClip(dir: string, opts: { width?: number; height?: number; seconds?: number } = {}): string {
  if (!existsSync(CAR_CLIP)) throw new Error(`the real traffic clip is missing: ${CAR_CLIP} (the live tests need ../shared/data)`);
  const out = path.join(dir, 'camera.mp4');
  const w = opts.width ?? 384;
  const h = opts.height ?? 216;
  ffmpeg(['-i', CAR_CLIP, '-t', String(opts.seconds ?? 6), '-an', '-vf', `scale=${w}:${h}`, '-r', '12.5', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '6', '-pix_fmt', 'yuv420p', out]);
  return out;
}

/** A real RTSP server for cameras (the same embedded server `serve` uses), on free ports. */
export async function cameraServer(): Promise<EmbeddedRtspServer> {
  const s = new EmbeddedRtspServer({ host: '127.0.0.1', port: 0, rtpPortStart: rtpBase(), rtpPortCount: 40 });
  await s.start();
  return s;
}

export interface Camera {
  child: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** ffmpeg publishing a clip in a loop, in real time, as a camera would. */
export function startCamera(clip: string, publishUrl: string): Camera {
  const child = spawn(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'udp', publishUrl], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  return {
    child,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Reads `frames` frames from an RTSP URL with ffmpeg (UDP) into an MP4, then decodes it to count them. */
export function readRtsp(url: string, frames: number, file: string, timeoutMs = 30_000): Promise<{ frames: number; width: number; height: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      ffmpegPath(),
      ['-hide_banner', '-loglevel', 'error', '-nostdin', '-rtsp_transport', 'udp', '-i', url, '-frames:v', String(frames), '-c:v', 'libx264', '-preset', 'ultrafast', '-y', file],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`reading ${url} failed (exit ${code}): ${err}`));
      resolve(countFrames(file));
    });
  });
}

/** An ffmpeg reader that keeps reading an RTSP URL; `frames()` says how many it decoded so far. */
export function rtspReader(url: string): { frames(): number; stop(): Promise<void> } {
  const child = spawn(ffmpegPath(), ['-hide_banner', '-nostdin', '-loglevel', 'error', '-stats', '-rtsp_transport', 'udp', '-i', url, '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let n = 0;
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    for (const m of d.matchAll(/frame=\s*(\d+)/g)) n = Number(m[1]);
  });
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  return {
    frames: () => n,
    async stop() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

/** The value of one series in Prometheus text, e.g. metric(text, 'derain_source_up', { stream: 'cam' }). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

export { ffmpeg, countFrames };

export interface ServeProcess {
  child: ChildProcess;
  stderr(): string;
  /** http://127.0.0.1:PORT, once the server said it listens */
  base(): Promise<string>;
  /** sends a signal; resolves with the exit code and how long exiting took */
  signal(sig: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
  exited: Promise<number | null>;
}

/** The real CLI, `derain serve ...`, as a separate process. */
export function serveProcess(args: string[], env: NodeJS.ProcessEnv = {}): ServeProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts'), 'serve', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout!.resume();
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    stderr: () => err,
    exited,
    base: () =>
      waitFor(
        'the server to listen',
        () => {
          if (child.exitCode !== null) throw new Error(`serve exited (${child.exitCode}): ${err}`);
          return /HTTP (http:\/\/[^\s]+)/.exec(err)?.[1];
        },
        30_000,
        100,
      ),
    async signal(sig) {
      const t0 = Date.now();
      child.kill(sig);
      const code = await exited;
      return { code, ms: Date.now() - t0 };
    },
  };
}
