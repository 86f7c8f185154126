// The live section of `npm run bench`: the real 640x360 rain clip, encoded once, streamed as it
// is (`-c copy`, looped, in real time) as 1, 2, 4 and 8 RTSP cameras into an RTSP server of
// their own (bench/camera-server.ts, another process); `serve` ingests them all (one shared
// session), derains and republishes each over RTSP. Per camera count: the total and per-stream
// fps, capture→sink latency p50/p95 (decode of the frame to its hand-over to the outputs), the
// inference time in the same run, the drops by reason, and where the CPU goes (bench/cpu-usage.ts:
// per stage, the service's processes apart from the fake cameras'). And, for one stream, the
// same with two frames in flight per session (the double buffering of file runs).
//   node --import tsx bench/live.ts [--cameras 1,2,4,8] [--model M] [--threads n] [--json]
// runs this section alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../src/serve/config.ts';
import { startServe } from '../src/serve/serve.ts';
import type { StreamStatus } from '../src/http/api-types.ts';
import { ffmpegPath } from '../src/util/ffmpeg.ts';
import { makeCameraClip } from './cameras.ts';
import { sample, usage, type CpuUsage, type Stage } from './cpu-usage.ts';

export interface LiveOptions {
  /** the real clip's frames (…/%03d.png) */
  framesPattern: string;
  tmp: string;
  model?: string;
  inferSize?: string;
  threads?: number;
  /** camera counts to measure (default 1, 2, 4, 8) */
  cameras?: number[];
  /** also measure one stream with two frames in flight (default: when 1 is among the counts) */
  inFlightRow?: boolean;
  log: (msg: string) => void;
}

export interface LiveRow {
  streams: number;
  /** the model the service ran */
  model: string | null;
  inFlight: number;
  /** frames derained per second, all streams together, over the window */
  totalFps: number;
  /** the mean over streams */
  fpsPerStream: number;
  /** the slowest stream: a fair share gives every stream about the mean */
  minStreamFps: number;
  /** the cameras' rate */
  sourceFps: number;
  /** per stream: the decoder converts one frame in this many (the rest skipped after decoding) */
  decodeEvery: number[];
  e2eMs: { p50: number; p95: number };
  inferenceMs: { p50: number };
  /** e2e p50 / inference p50: the target is ≤ 2 */
  latencyToInference: number;
  /** frames dropped during the window, all streams, by reason */
  dropped: StreamStatus['dropped'];
  framesProcessed: number;
  cpu: {
    /** cores used by the service's processes (main, inference, decoders, encoders) */
    service: number;
    /** cores used by the fake cameras (publishers and their RTSP server) */
    cameras: number;
    /** the whole machine, other jobs included */
    machine: number;
    /** cores by stage, and the same per stream */
    stages: Partial<Record<Stage, number>>;
    perStream: Partial<Record<Stage, number>>;
    /** the service's cores per frame derained, in ms of CPU */
    serviceMsPerFrame: number;
  };
  /** the 1-minute load average when the window started */
  load: number;
}

export interface LiveResult {
  rows: LiveRow[];
  /** total fps with N cameras over the total with one, measured in this run, against the goals */
  scaling: { n: number; ratio: number; goal: number | null; met: boolean | null }[];
  /** "this machine derains N cameras at F fps each" */
  rule: string | null;
  /** what else ran: the load average and the machine's busy cores outside the bench */
  load: { loadavg1: number; cores: number };
}

const WARMUP_MS = 4000;
// Frames and CPU are counted over 10 s (a 5 s window of a 10 fps model swung the one-camera
// total by a fifth between runs); the API's latency figures cover the last 5 s of it.
const WINDOW_MS = 10_000;
const GOALS: Record<number, number> = { 4: 0.9, 8: 0.8 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const here = path.dirname(fileURLToPath(import.meta.url));

interface CameraServer {
  child: ChildProcess;
  publishUrl(id: string): string;
  readUrl(id: string): string;
  close(): Promise<void>;
}

async function startCameraServer(rtpPortStart: number, rtpPortCount: number): Promise<CameraServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'camera-server.ts'), String(rtpPortStart), String(rtpPortCount)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [null])])) as [string | null];
  if (!line) throw new Error('the cameras’ RTSP server did not start');
  const { port, publishPort } = JSON.parse(line) as { port: number; publishPort: number };
  return {
    child,
    publishUrl: (id) => `rtsp://127.0.0.1:${publishPort}/${id}`,
    readUrl: (id) => `rtsp://127.0.0.1:${port}/${id}`,
    close: async () => {
      const exited = once(child, 'exit');
      child.stdin!.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function measure(clip: string, n: number, inFlight: number, opts: LiveOptions): Promise<LiveRow> {
  const ports = 40000 + 400 * n + 200 * inFlight;
  const cams = await startCameraServer(ports, 4 * n + 4);
  const publishers: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    publishers.push(
      spawn(
        ffmpegPath(),
        ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'udp', cams.publishUrl(`cam${i}`)],
        { stdio: 'ignore' },
      ),
    );
  }
  const config = resolveConfig(
    {
      server: { port: 0 },
      rtsp: { port: 0, rtpPortStart: ports + 100, rtpPortCount: 4 * n + 4 },
      defaults: {
        transport: 'udp',
        ...(opts.model ? { model: opts.model } : {}),
        ...(opts.inferSize ? { inferSize: opts.inferSize } : {}),
        ...(opts.threads ? { threads: opts.threads } : {}),
        outputs: { ws: false },
      },
      streams: Array.from({ length: n }, (_, i) => ({ id: `cam${i}`, url: cams.readUrl(`cam${i}`) })),
    },
    'bench',
    opts.tmp,
  );
  const svc = await startServe(config, { log: () => {}, inFlight });
  try {
    const list = () => svc.manager.list();
    const t0 = Date.now();
    while (!list().every((s) => s.state === 'live')) {
      if (Date.now() - t0 > 60_000) throw new Error(`streams not live after 60 s: ${JSON.stringify(list().map((s) => [s.id, s.state, s.reason]))}`);
      await sleep(200);
    }
    await sleep(WARMUP_MS);
    // the decoders skip frames once a stream's share is far below its camera's rate, deciding
    // every 4 s, a level at a time: measured once that has settled (no change over 5 s, up to 30 s)
    for (let i = 0; i < 6; i++) {
      const steps = list()
        .map((s) => s.decodeEvery)
        .join();
      await sleep(5000);
      if (
        list()
          .map((s) => s.decodeEvery)
          .join() === steps
      )
        break;
    }
    const camPids = [cams.child.pid!, ...publishers.map((p) => p.pid!)];
    const load = os.loadavg()[0];
    const cpu0 = sample(process.pid, camPids);
    const before = list();
    await sleep(WINDOW_MS);
    const after = list();
    const cpu1 = sample(process.pid, camPids);
    const cpu = usage(cpu0, cpu1);
    const b = Object.fromEntries(before.map((s) => [s.id, s]));
    const dropped = { behind: 0, slow_client: 0, encoder_behind: 0, inference_error: 0 };
    for (const s of after) for (const k of Object.keys(dropped) as (keyof typeof dropped)[]) dropped[k] += s.dropped[k] - b[s.id].dropped[k];
    const e2e50 = median(after.map((s) => s.e2eMs?.p50 ?? NaN));
    const inf50 = median(after.map((s) => s.inferenceMs?.p50 ?? NaN));
    const framesProcessed = after.reduce((t, s) => t + s.framesProcessed - b[s.id].framesProcessed, 0);
    const perStreamFps = after.map((s) => (s.framesProcessed - b[s.id].framesProcessed) / cpu.seconds);
    return {
      streams: n,
      model: after[0].model,
      inFlight,
      totalFps: round(framesProcessed / cpu.seconds),
      fpsPerStream: round(framesProcessed / cpu.seconds / n),
      minStreamFps: round(Math.min(...perStreamFps)),
      sourceFps: after[0].sourceFps ?? 0,
      decodeEvery: after.map((s) => s.decodeEvery),
      e2eMs: { p50: round(e2e50), p95: round(median(after.map((s) => s.e2eMs?.p95 ?? NaN))) },
      inferenceMs: { p50: round(inf50) },
      latencyToInference: round(e2e50 / inf50, 2),
      dropped,
      framesProcessed,
      cpu: cpuFigures(cpu, n, framesProcessed),
      load: round(load, 2),
    };
  } finally {
    await svc.close();
    for (const p of publishers) p.kill('SIGKILL');
    await cams.close();
  }
}

function cpuFigures(cpu: CpuUsage, n: number, frames: number): LiveRow['cpu'] {
  const r = (v: number) => round(v, 3);
  const stages = Object.fromEntries(Object.entries(cpu.stages).map(([k, v]) => [k, r(v)]));
  const perStream = Object.fromEntries(Object.entries(cpu.stages).map(([k, v]) => [k, r(v / n)]));
  return {
    service: r(cpu.service),
    cameras: r(cpu.cameras),
    machine: r(cpu.machine),
    stages,
    perStream,
    serviceMsPerFrame: round(frames ? (cpu.service * cpu.seconds * 1000) / frames : NaN),
  };
}

function describe(row: LiveRow): string {
  const { cpu } = row;
  const stages = Object.entries(cpu.stages)
    .filter(([, v]) => v >= 0.005)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
  return (
    `bench: live ${row.streams} stream${row.streams > 1 ? 's' : ''} (${row.model})${row.inFlight > 1 ? `, ${row.inFlight} frames in flight` : ''}: ${row.totalFps} fps in all, ${row.fpsPerStream} each (slowest ${row.minStreamFps}; cameras ${row.sourceFps}), ` +
    `capture→sink p50 ${row.e2eMs.p50} ms, p95 ${row.e2eMs.p95} ms; inference p50 ${row.inferenceMs.p50} ms (ratio ${row.latencyToInference}); ` +
    `dropped ${row.dropped.behind} behind, ${row.dropped.encoder_behind} at encoders; ` +
    `CPU cores: service ${cpu.service.toFixed(2)} (${cpu.serviceMsPerFrame} ms a frame), cameras ${cpu.cameras.toFixed(2)}, machine ${cpu.machine.toFixed(2)} of ${os.availableParallelism()} [${stages}]; load ${row.load}`
  );
}

/**
 * Total fps with N cameras over the total with one. The one-camera row is measured first and
 * again last, and the reference is their mean: a shared machine drifts over the minutes the rows
 * take, and a ratio against one end of the run alone carries that drift.
 */
export function scalingOf(rows: LiveRow[]): LiveResult['scaling'] {
  const ones = rows.filter((r) => r.streams === 1 && r.inFlight === 1);
  if (!ones.length) return [];
  const one = ones.reduce((t, r) => t + r.totalFps, 0) / ones.length;
  return rows
    .filter((r) => r.streams > 1 && r.inFlight === 1)
    .map((r) => {
      const ratio = round(r.totalFps / one, 2);
      const goal = GOALS[r.streams] ?? null;
      return { n: r.streams, ratio, goal, met: goal === null ? null : ratio >= goal };
    });
}

/** The rule the figures imply, from the most cameras measured. */
export function ruleOf(rows: LiveRow[]): string | null {
  const most = rows.filter((r) => r.inFlight === 1).sort((a, b) => b.streams - a.streams)[0];
  if (!most) return null;
  return (
    `this machine derains ${most.streams} camera${most.streams > 1 ? 's' : ''} at ${most.fpsPerStream} fps each ` +
    `(${most.totalFps} fps in all, ${round(most.cpu.service / most.streams, 2)} service cores per camera)`
  );
}

export async function liveBench(opts: LiveOptions): Promise<LiveResult> {
  const clip = makeCameraClip(opts.framesPattern, opts.tmp);
  const counts = opts.cameras ?? [1, 2, 4, 8];
  const plan = counts.map((n) => [n, 1]);
  if (counts.includes(1) && counts.some((n) => n > 1)) plan.push([1, 1]);
  if (opts.inFlightRow ?? counts.includes(1)) plan.push([1, 2]);
  const rows: LiveRow[] = [];
  for (const [n, inFlight] of plan) {
    const row = await measure(clip, n, inFlight, opts);
    opts.log(describe(row));
    rows.push(row);
  }
  const scaling = scalingOf(rows);
  for (const s of scaling) opts.log(`bench: live total with ${s.n} cameras / with 1: ${s.ratio}${s.goal !== null ? ` (goal ≥ ${s.goal}: ${s.met ? 'met' : 'not met'})` : ''}`);
  const rule = ruleOf(rows);
  if (rule) opts.log(`bench: ${rule}`);
  const loads = rows.map((r) => r.load);
  const others = rows.map((r) => r.cpu.machine - r.cpu.service - r.cpu.cameras);
  return { rows, scaling, rule, load: { loadavg1: round(median(loads), 2), cores: round(median(others), 2) } };
}

/** `--cameras 1,2,4,8`: camera counts, each a positive integer. */
export function parseCameras(v: string): number[] {
  const list = v.split(',').map((s) => Number(s.trim()));
  if (!list.length || list.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error(`--cameras: a list of camera counts such as 1,2,4,8 (got ${v})`);
  return list;
}

// Run alone: the live section without the model-only and pipeline rounds before it.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { Command } = await import('commander');
  const o = new Command('live')
    .option('--cameras <list>', 'camera counts', parseCameras, [1, 2, 4, 8])
    .option('--model <name|path>')
    .option('--infer-size <WxH>')
    .option('--threads <n>', 'onnxruntime threads', (v) => parseInt(v, 10))
    .option('--no-in-flight-row', 'skip the one-stream, two-in-flight row')
    .option('--json')
    .parse(process.argv)
    .opts<{ cameras: number[]; model?: string; inferSize?: string; threads?: number; inFlightRow: boolean; json?: boolean }>();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'derain-live-'));
  try {
    const res = await liveBench({
      framesPattern: path.resolve(here, '..', '..', 'shared', 'data', 'real-video-j4rnet', '%03d.png'),
      tmp,
      model: o.model,
      inferSize: o.inferSize,
      threads: o.threads,
      cameras: o.cameras,
      inFlightRow: o.inFlightRow,
      log: (m) => process.stderr.write(m + '\n'),
    });
    if (o.json) process.stdout.write(JSON.stringify(res) + '\n');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
