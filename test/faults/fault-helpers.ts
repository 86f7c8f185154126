// Helpers for the fault-injection tests: a WebSocket client that keeps every frame's arrival
// time (to find the longest gap in an output), an RTSP reader watched for stalls, and /proc
// readings of a process's memory and descriptors.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { decodeFrame } from '../../src/egress/ws/frame-header.ts';
import { STALE_AFTER_MS } from '../../src/serve/stream.ts';
import { ffprobePath } from '../../src/util/ffmpeg.ts';
import { rtspReader, waitFor } from '../serve/live-helpers.ts';

export interface Arrival {
  at: number;
  seq: number;
  stale: boolean;
}

export interface FrameWatch {
  arrivals: Arrival[];
  /** the longest time between two frames from arrival `from` on, and where it ended */
  maxGap(from?: number): { ms: number; at: number };
  /** frames from arrival `from` on that are new (not stale repeats) and newer than `seq` */
  fresh(from: number, seq?: number): Arrival[];
  /**
   * The longest gap the stream's heartbeat allows: repeats start after 3 usual output gaps (at
   * least STALE_AFTER_MS) and come once per gap, the usual gap being the median between new
   * frames here; plus `slackMs` for two busy cores.
   */
  gapBound(frameIntervalMs: number, slackMs?: number): number;
  close(): void;
}

/** A detector-like client on `/ws/<id>`, opened once it received its first frame. */
export async function watchFrames(url: string): Promise<FrameWatch> {
  const ws = new WebSocket(url);
  const arrivals: Arrival[] = [];
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) return;
    const { header } = decodeFrame(data);
    arrivals.push({ at: Date.now(), seq: header.seq, stale: header.stale });
  });
  ws.on('error', () => {});
  await waitFor(`a first frame on ${url}`, () => arrivals.length > 0, 30_000, 50);
  return {
    arrivals,
    maxGap(from = 0) {
      let worst = { ms: 0, at: 0 };
      for (let i = Math.max(1, from); i < arrivals.length; i++) {
        const ms = arrivals[i].at - arrivals[i - 1].at;
        if (ms > worst.ms) worst = { ms, at: arrivals[i].at };
      }
      return worst;
    },
    fresh: (from, seq = -1) => arrivals.slice(from).filter((a) => !a.stale && a.seq > seq),
    gapBound(frameIntervalMs, slackMs = 250) {
      const fresh = arrivals.filter((a) => !a.stale);
      const gaps = fresh
        .slice(1)
        .map((a, i) => a.at - fresh[i].at)
        .filter((ms) => ms <= 2000)
        .sort((a, b) => a - b);
      const usual = Math.max(frameIntervalMs, gaps[gaps.length >> 1] ?? 0);
      return Math.max(STALE_AFTER_MS, 3 * usual) + 2 * usual + slackMs;
    },
    close: () => ws.terminate(),
  };
}

/** An ffmpeg reader of an RTSP output, sampled for the longest time its frame count stood still. */
export function watchRtsp(url: string, everyMs = 100): { frames(): number; longestStallMs(): number; stop(): Promise<void> } {
  const reader = rtspReader(url);
  let last = -1;
  let since = Date.now();
  let longest = 0;
  const timer = setInterval(() => {
    const n = reader.frames();
    const now = Date.now();
    if (n !== last) {
      // (until the reader decoded its first frame, a standstill is its start, not a stall)
      if (last > 0) longest = Math.max(longest, now - since);
      last = n;
      since = now;
    }
  }, everyMs);
  return {
    frames: () => reader.frames(),
    longestStallMs: () => Math.max(longest, last > 0 ? Date.now() - since : 0),
    async stop() {
      clearInterval(timer);
      await reader.stop();
    },
  };
}

/** Resident memory (bytes) and open descriptors of a process, from /proc. */
export function processUsage(pid: number): { rssBytes: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return { rssBytes: kb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Child processes of `pid` (their pids), from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // the command name is in parentheses and may hold spaces: the parent pid is the second field after it
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      /* it exited meanwhile */
    }
  }
  return out;
}

/** This process's ffmpeg children whose command line holds `needle` (a decoder by its input URL). */
export function ffmpegChildren(needle: string): number[] {
  return childPids(process.pid).filter((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return /ffmpeg/.test(cmd[0]) && cmd.includes(needle);
    } catch {
      return false;
    }
  });
}

/**
 * Decoded frames of a video, counted by ffprobe without blocking: the tests that run the service
 * in their own process would freeze it for as long as a synchronous ffprobe takes.
 */
export function framesIn(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffprobePath(), ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', (code) => (code === 0 && /^\d+/.test(out.trim()) ? resolve(Number(out.trim())) : reject(new Error(`ffprobe ${file} failed (exit ${code}): ${err || out}`))));
  });
}
