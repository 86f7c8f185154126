// `npm run bench -- --soak <seconds> [--json]`: `derain serve` run for that long as it runs in
// production, in a process of its own (`src/cli.ts serve -c <config>`), so its memory and
// descriptors are the service's alone and not the bench's. Four cameras (the real clip looped by
// ffmpeg with `-c copy`, cameras.ts), a WebSocket client that reads for a second and then stops
// reading for four (rgb24, the heaviest format, on cam0), one that connects to cam1 (jpeg, so
// the JPEG encoder starts and stops each time) and drops every second, alternately with a close
// handshake and without one, and a recording in one-minute segments on cam3.
// Every few seconds: RSS, open descriptors and threads of the service (/proc) and of its
// inference process (its pid from /api/streams), the service's JS heap (/metrics). Reported:
// start and end, and the slope per hour by least squares over the samples after a warm-up; the
// frames in, out and dropped by reason (/api/streams); and whether the goal holds.
// SOAK_SAMPLES=<file> writes every sample there as JSON lines, to look at the curves.
// SOAK_SNAPSHOTS=<dir> writes a heap snapshot of the service and of its inference process after
// the warm-up and at the end (each pauses that process for a second or two): what grows between
// them is what leaks, and a snapshot's full GC first tells garbage from a leak. (Writing one
// leaves tens of MB more RSS behind: such a run's RSS figures are not the soak's.)
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { DropReason, StreamList, StreamStatus } from '../src/protocol/api.ts';
import { makeCameraClip, startCameras } from './cameras.ts';
import { fitFloor, fitLine } from './slope.ts';
import { launcherEnv } from './launcher-env.ts';

export interface SoakOptions {
  seconds: number;
  /** the real clip's frames (…/%03d.png) */
  framesPattern: string;
  model?: string;
  inferSize?: string;
  threads?: number;
  log: (msg: string) => void;
}

/** The goal, per hour after the warm-up. */
export const SOAK_GOAL = { rssMBPerHour: 5, fdsPerHour: 1 };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CAMERAS = 4;
const SAMPLE_MS = 2000;
const MB = 1e6;
const HOUR_S = 3600;
// /proc/<pid>/stat counts CPU time in clock ticks, 100 a second on Linux
const CLK_TCK = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, d = 2) => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : null);

/** Long enough for V8's heap and glibc's arenas to reach their working size, short enough to leave most of the run to the trend. */
export function warmupSeconds(seconds: number): number {
  return Math.min(120, Math.max(10, seconds * 0.2));
}

interface Proc {
  rss: number;
  fds: number;
  threads: number;
  cpuS: number;
}

function readProc(pid: number): Proc | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // after "pid (comm) ": field 3 (state) first, so utime (14) and stime (15) are at 11 and 12
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rss: field('VmRSS') * 1024, fds, threads: field('Threads'), cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK };
  } catch {
    return null;
  }
}

/** The process's descriptors by what they are: a leak shows as the kind that grows. */
function fdKinds(pid: number): Record<string, number> {
  const kinds: Record<string, number> = {};
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      const kind = /^(socket|pipe):/.test(target)
        ? target.slice(0, target.indexOf(':'))
        : target.startsWith('anon_inode:')
          ? target
          : target.endsWith(' (deleted)')
            ? 'deleted file'
            : target.startsWith('/dev/')
              ? target
              : 'file';
      kinds[kind] = (kinds[kind] ?? 0) + 1;
    }
  } catch {
    // the process has gone
  }
  return kinds;
}

/** The service's child processes (decoders, encoders, the inference process) by name, and their RSS. */
function children(pid: number): { byName: Record<string, number>; rss: number } {
  const byName: Record<string, number> = {};
  let rss = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      byName[name] = (byName[name] ?? 0) + 1;
      const r = readProc(Number(entry))?.rss;
      if (r !== undefined && Number.isFinite(r)) rss += r; // (an exited child not yet reaped has no RSS)
    } catch {
      // gone meanwhile
    }
  }
  return { byName, rss };
}

function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

const SNAPSHOT_DIR = process.env.SOAK_SNAPSHOTS ? path.resolve(process.env.SOAK_SNAPSHOTS) : null;

interface Snapshot {
  file: string;
  rssBeforeMB: number | null;
  /** a few seconds after the snapshot was written */
  rssAfterMB: number | null;
}

/** A heap snapshot of `pid` (started with --heapsnapshot-signal=SIGUSR2) as <dir>/<label>.heapsnapshot. */
async function heapSnapshot(pid: number, label: string): Promise<Snapshot | null> {
  if (!SNAPSHOT_DIR) return null;
  const before = new Set(readdirSync(SNAPSHOT_DIR));
  const rssBefore = readProc(pid)?.rss ?? NaN;
  process.kill(pid, 'SIGUSR2');
  let file: string | null = null;
  let size = -1;
  for (const t0 = Date.now(); Date.now() - t0 < 60_000;) {
    await sleep(1000);
    file ??= readdirSync(SNAPSHOT_DIR).find((f) => f.endsWith('.heapsnapshot') && !before.has(f)) ?? null;
    if (!file) continue;
    const now = statSync(path.join(SNAPSHOT_DIR, file)).size;
    if (now > 0 && now === size) break; // written out
    size = now;
  }
  if (!file) return null;
  const named = path.join(SNAPSHOT_DIR, `${label}.heapsnapshot`);
  renameSync(path.join(SNAPSHOT_DIR, file), named);
  await sleep(3000);
  return { file: named, rssBeforeMB: round(rssBefore / MB), rssAfterMB: round((readProc(pid)?.rss ?? NaN) / MB) };
}

interface Sample {
  /** seconds since the soak started */
  t: number;
  svc: Proc;
  inf: Proc | null;
  infPid: number | null;
  heapUsed: number;
  heapTotal: number;
  external: number;
  childCount: number;
  childRss: number;
}

/** Reads cam0 for a second, then not at all for four: the server's queue for it fills and it skips frames. */
class SlowClient {
  frames = 0;
  bytes = 0;
  /** the server closed it (it should not: the pauses are shorter than the heartbeat) */
  dropped = 0;
  private ws: WebSocket | null = null;
  private readonly timer: NodeJS.Timeout;
  private phase = 0;
  private stopped = false;

  constructor(private readonly url: string) {
    this.connect();
    this.timer = setInterval(() => {
      this.phase = (this.phase + 1) % 5;
      if (this.phase === 0) this.ws?.resume();
      else if (this.phase === 1) this.ws?.pause();
    }, 1000);
  }

  private connect(): void {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on('message', (data: Buffer, binary) => {
      if (!binary) return;
      this.frames++;
      this.bytes += data.length;
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      if (this.stopped) return;
      this.dropped++;
      setTimeout(() => !this.stopped && this.connect(), 1000);
    });
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.ws?.terminate();
  }
}

/** Connects to cam1, stays a second, leaves (alternately closing and cutting the connection), again. */
async function reconnectingClient(url: string, stopped: () => boolean, stats: { connects: number; failures: number; frames: number; withFrame: number }) {
  for (let i = 0; !stopped(); i++) {
    const started = Date.now();
    const ws = new WebSocket(url);
    let got = false;
    ws.on('message', (_data, binary) => {
      if (!binary) return;
      stats.frames++;
      got = true;
    });
    ws.on('error', () => {});
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    const opened = await Promise.race([new Promise<boolean>((resolve) => ws.once('open', () => resolve(true))), closed.then(() => false), sleep(5000).then(() => false)]);
    if (opened) stats.connects++;
    else stats.failures++;
    await sleep(Math.max(0, 1000 - (Date.now() - started)));
    if (got) stats.withFrame++;
    if (i % 2) ws.terminate();
    else ws.close();
    await Promise.race([closed, sleep(3000)]);
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  }
}

interface Series {
  start: number | null;
  end: number | null;
  perHour: number | null;
  perHourStderr: number | null;
  /** the slope through each minute's lowest sample after the warm-up (slope.ts says why) */
  floorPerHour: number | null;
}

const FLOOR_WINDOW_S = 60;

function series(samples: Sample[], warmup: number, value: (s: Sample) => number | null, scale = 1): Series {
  const valid = samples.filter((s) => value(s) !== null && Number.isFinite(value(s)));
  const after = valid.filter((s) => s.t >= warmup);
  const fit = fitLine(
    after.map((s) => s.t / HOUR_S),
    after.map((s) => value(s)! / scale),
  );
  return {
    start: valid.length ? round(value(valid[0])! / scale) : null,
    end: valid.length ? round(value(valid[valid.length - 1])! / scale) : null,
    perHour: round(fit.slope),
    perHourStderr: round(fit.stderr),
    floorPerHour: round(
      fitFloor(
        after.map((s) => s.t / HOUR_S),
        after.map((s) => value(s)! / scale),
        FLOOR_WINDOW_S / HOUR_S,
      ).slope,
    ),
  };
}

function frameTotals(list: StreamStatus[]) {
  const dropped: Record<DropReason, number> = { behind: 0, slow_client: 0, encoder_behind: 0, inference_error: 0 };
  for (const s of list) for (const k of Object.keys(dropped) as DropReason[]) dropped[k] += s.dropped[k] ?? 0;
  return { ingested: list.reduce((t, s) => t + s.framesIngested, 0), processed: list.reduce((t, s) => t + s.framesProcessed, 0), dropped };
}

function minus(a: ReturnType<typeof frameTotals>, b: ReturnType<typeof frameTotals>) {
  const dropped = { ...a.dropped };
  for (const k of Object.keys(dropped) as DropReason[]) dropped[k] -= b.dropped[k];
  return { ingested: a.ingested - b.ingested, processed: a.processed - b.processed, dropped };
}

export async function soak(opts: SoakOptions) {
  const { log } = opts;
  const warmup = warmupSeconds(opts.seconds);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'derain-soak-'));
  const cams = await startCameras(makeCameraClip(opts.framesPattern, tmp), CAMERAS, 44000);
  const recordDir = path.join(tmp, 'rec');
  mkdirSync(recordDir);
  const config = {
    server: { port: 0 },
    rtsp: { port: 0, rtpPortStart: 45000, rtpPortCount: 60 },
    defaults: {
      ...(opts.model ? { model: opts.model } : {}),
      ...(opts.inferSize ? { inferSize: opts.inferSize } : {}),
      ...(opts.threads ? { threads: opts.threads } : {}),
    },
    streams: cams.urls.map((url, i) => ({ id: `cam${i}`, url, ...(i === 3 ? { outputs: { record: { dir: recordDir, segmentSeconds: 60 } } } : {}) })),
  };
  const configPath = path.join(tmp, 'soak.yaml');
  writeFileSync(configPath, JSON.stringify(config, null, 2)); // JSON is YAML

  const svc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(ROOT, 'src', 'cli.ts'), 'serve', '-c', configPath], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    // (the inference process inherits the environment, and so the flags)
    // (bin/derain's environment: the service as the `derain` command starts it)
    env: SNAPSHOT_DIR ? { ...launcherEnv(), NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${SNAPSHOT_DIR}` } : launcherEnv(),
  });
  const pid = svc.pid!;
  let exit: { code: number | null; signal: string | null } | null = null;
  const exited = new Promise<void>((resolve) =>
    svc.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );
  // The log is read all along (a full pipe would stall the service); lines that say something went wrong are kept.
  const notable: string[] = [];
  const logTail: string[] = [];
  let logLines = 0;
  let httpUrl: string | null = null;
  let partial = '';
  svc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      logLines++;
      logTail.push(line);
      if (logTail.length > 20) logTail.shift();
      httpUrl ??= /: HTTP (http:\/\/[^\s]+) /.exec(line)?.[1] ?? null;
      if (/error|fail|died|hung|restart|cannot|killed|crash/i.test(line) && notable.length < 20) notable.push(line);
    }
  });
  const dead = () => (exit ? new Error(`the service exited (${JSON.stringify(exit)}); its log ends:\n${logTail.join('\n')}`) : null);

  let stopClients = false;
  const slowStats = { frames: 0, bytes: 0, dropped: 0 };
  const reconnectStats = { connects: 0, failures: 0, frames: 0, withFrame: 0 };
  let slow: SlowClient | null = null;
  let reconnecting: Promise<void> | null = null;
  try {
    const t0 = Date.now();
    while (!httpUrl) {
      const err = dead();
      if (err) throw err;
      if (Date.now() - t0 > 120_000) throw new Error(`the service did not start in 120 s; its log ends:\n${logTail.join('\n')}`);
      await sleep(200);
    }
    const url: string = httpUrl;
    const api = async (): Promise<StreamStatus[]> => ((await (await fetch(`${url}/api/streams`)).json()) as StreamList).streams;
    log(`bench: soak: service pid ${pid} at ${url}, ${CAMERAS} cameras; waiting for them to be live`);
    for (;;) {
      const err = dead();
      if (err) throw err;
      const list = await api();
      if (list.every((s) => s.state === 'live')) break;
      if (Date.now() - t0 > 180_000) throw new Error(`streams not live after 180 s: ${JSON.stringify(list.map((s) => [s.id, s.state, s.reason]))}`);
      await sleep(500);
    }

    const wsUrl = url.replace(/^http/, 'ws');
    slow = new SlowClient(`${wsUrl}/ws/cam0?format=rgb24`);
    reconnecting = reconnectingClient(`${wsUrl}/ws/cam1?format=jpeg`, () => stopClients, reconnectStats);

    const start = Date.now();
    const samples: Sample[] = [];
    const sample = async (): Promise<StreamStatus[]> => {
      const [list, metrics] = await Promise.all([api(), fetch(`${url}/metrics`).then((r) => r.text())]);
      const s = readProc(pid);
      if (!s) throw dead() ?? new Error(`cannot read /proc/${pid}`);
      const infPid = list[0]?.inference?.pid ?? null;
      const kids = children(pid);
      samples.push({
        t: (Date.now() - start) / 1000,
        svc: s,
        inf: infPid ? readProc(infPid) : null,
        infPid,
        heapUsed: metricValue(metrics, 'nodejs_heap_size_used_bytes'),
        heapTotal: metricValue(metrics, 'nodejs_heap_size_total_bytes'),
        external: metricValue(metrics, 'nodejs_external_memory_bytes'),
        childCount: Object.values(kids.byName).reduce((a, b) => a + b, 0),
        childRss: kids.rss - (infPid ? (readProc(infPid)?.rss ?? 0) : 0),
      });
      if (process.env.SOAK_SAMPLES) appendFileSync(process.env.SOAK_SAMPLES, JSON.stringify(samples[samples.length - 1]) + '\n');
      return list;
    };
    const loadStart = os.loadavg()[0];
    const first = await sample();
    let warm: StreamStatus[] | null = null;
    let fdsWarm: { service: Record<string, number>; inference: Record<string, number> } | null = null;
    let childrenWarm: Record<string, number> = {};
    const snapshots: (Snapshot | null)[] = [];
    let last = first;
    for (let next = SAMPLE_MS; next <= opts.seconds * 1000; next += SAMPLE_MS) {
      await sleep(Math.max(0, start + next - Date.now()));
      last = await sample();
      const t = samples[samples.length - 1].t;
      if (!warm && t >= warmup) {
        warm = last;
        fdsWarm = { service: fdKinds(pid), inference: samples[samples.length - 1].infPid ? fdKinds(samples[samples.length - 1].infPid!) : {} };
        childrenWarm = children(pid).byName;
        const inf = samples[samples.length - 1].infPid;
        snapshots.push(await heapSnapshot(pid, 'service-warm'), inf ? await heapSnapshot(inf, 'inference-warm') : null);
      }
      if (Math.round(t) % 60 === 0) {
        const s = samples[samples.length - 1];
        log(
          `bench: soak ${Math.round(t)} s: service RSS ${(s.svc.rss / MB).toFixed(1)} MB, heap ${(s.heapUsed / MB).toFixed(1)} MB, ${s.svc.fds} fds; inference RSS ${s.inf ? (s.inf.rss / MB).toFixed(1) : '-'} MB, ${s.inf?.fds ?? '-'} fds`,
        );
      }
    }
    const end = samples[samples.length - 1];
    const fdsEnd = { service: fdKinds(pid), inference: end.infPid ? fdKinds(end.infPid) : {} };
    const childrenEnd = children(pid).byName;
    snapshots.push(await heapSnapshot(pid, 'service-end'), end.infPid ? await heapSnapshot(end.infPid, 'inference-end') : null);
    stopClients = true;
    slow.stop();
    Object.assign(slowStats, { frames: slow.frames, bytes: slow.bytes, dropped: slow.dropped });
    await reconnecting;

    // the inference process's trend is that of the process running at the end (a restart starts a new one)
    const infSamples = samples.filter((s) => s.infPid !== null && s.infPid === end.infPid && s.inf);
    const svcRss = series(samples, warmup, (s) => s.svc.rss, MB);
    const svcFds = series(samples, warmup, (s) => s.svc.fds);
    const infRss = series(infSamples, warmup, (s) => s.inf!.rss, MB);
    const infFds = series(infSamples, warmup, (s) => s.inf!.fds);
    const passes = (rss: Series, fds: Series) => rss.perHour !== null && fds.perHour !== null && rss.perHour < SOAK_GOAL.rssMBPerHour && fds.perHour < SOAK_GOAL.fdsPerHour;

    const stopAt = Date.now();
    svc.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    const shutdownMs = Date.now() - stopAt;
    const exitCode = (exit as { code: number | null } | null)?.code ?? null;
    const elapsed = end.t;
    const result = {
      seconds: opts.seconds,
      warmupSeconds: warmup,
      sampleEverySeconds: SAMPLE_MS / 1000,
      samples: samples.length,
      cameras: CAMERAS,
      model: first[0]?.model ?? null,
      ep: first[0]?.ep ?? null,
      // the machine is shared: what else ran shows in its load
      loadAverage: { start: round(loadStart), end: round(os.loadavg()[0]) },
      inferenceMsEnd: last[0]?.inferenceMs ?? null,
      service: {
        pid,
        rssMB: svcRss,
        heapUsedMB: series(samples, warmup, (s) => s.heapUsed, MB),
        heapTotalMB: series(samples, warmup, (s) => s.heapTotal, MB),
        externalMB: series(samples, warmup, (s) => s.external, MB),
        fds: svcFds,
        threads: series(samples, warmup, (s) => s.svc.threads),
        cpuPercent: round((100 * (end.svc.cpuS - samples[0].svc.cpuS)) / elapsed, 1),
        fdKinds: { afterWarmup: fdsWarm?.service ?? {}, end: fdsEnd.service },
        // decoders, encoders (the JPEG one comes and goes with the reconnecting client), the inference process
        children: { afterWarmup: childrenWarm, end: childrenEnd, rssMB: series(samples, warmup, (s) => s.childRss, MB) },
      },
      inference: {
        pid: end.infPid,
        restarts: last[0]?.inference?.restarts ?? null,
        rssMB: infRss,
        fds: infFds,
        threads: series(infSamples, warmup, (s) => s.inf!.threads),
        cpuPercent: infSamples.length > 1 ? round((100 * (infSamples[infSamples.length - 1].inf!.cpuS - infSamples[0].inf!.cpuS)) / (infSamples[infSamples.length - 1].t - infSamples[0].t), 1) : null,
        fdKinds: { afterWarmup: fdsWarm?.inference ?? {}, end: fdsEnd.inference },
      },
      frames: {
        ...minus(frameTotals(last), frameTotals(first)),
        perStream: last.map((s) => {
          const f = first.find((x) => x.id === s.id)!;
          return { id: s.id, state: s.state, reason: s.reason, ...minus(frameTotals([s]), frameTotals([f])), reconnects: s.reconnects - f.reconnects, fps: s.fps };
        }),
      },
      clients: {
        slow: { ...slowStats, mb: round(slowStats.bytes / MB, 1) },
        reconnecting: reconnectStats,
      },
      ...(SNAPSHOT_DIR ? { snapshots: snapshots.filter(Boolean) } : {}),
      recordingSegments: readdirSync(recordDir).length,
      cameraRestarts: cams.restarts(),
      log: { lines: logLines, notable },
      shutdown: { ms: shutdownMs, exitCode },
      goal: {
        ...SOAK_GOAL,
        service: passes(svcRss, svcFds),
        inference: passes(infRss, infFds),
        holds: passes(svcRss, svcFds) && passes(infRss, infFds),
      },
    };
    const f = result.frames;
    log(
      `bench: soak ${opts.seconds} s (warm-up ${warmup} s, ${samples.length} samples): service RSS ${svcRss.start} → ${svcRss.end} MB (${svcRss.perHour} ± ${svcRss.perHourStderr} MB/h), ` +
        `fds ${svcFds.start} → ${svcFds.end} (${svcFds.perHour}/h); inference RSS ${infRss.start} → ${infRss.end} MB (${infRss.perHour} ± ${infRss.perHourStderr} MB/h), fds ${infFds.start} → ${infFds.end} (${infFds.perHour}/h)`,
    );
    log(
      `bench: soak frames: ${f.ingested} in, ${f.processed} out, dropped ${f.dropped.behind} behind, ${f.dropped.slow_client} slow client, ${f.dropped.encoder_behind} encoder behind, ${f.dropped.inference_error} inference errors; ` +
        `reconnecting client ${reconnectStats.connects} connects (${reconnectStats.failures} failed); goal ${result.goal.holds ? 'holds' : 'fails'}`,
    );
    return result;
  } finally {
    stopClients = true;
    slow?.stop();
    await reconnecting;
    if (!exit) {
      svc.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (!exit) svc.kill('SIGKILL');
    }
    await cams.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
