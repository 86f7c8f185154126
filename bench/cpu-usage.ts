// Where the CPU goes during a live bench window: each process's CPU time (utime + stime from
// /proc/<pid>/stat) at the start and the end of the window, the processes found by walking the
// ppid tree down from given roots and put into stages by their command lines. A process that
// ends within the window loses its time (the kernel adds it to the parent's cutime, which is
// not read): the bench's processes all run through the window.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export type Stage =
  | 'main' // the service's own Node process: the API, WebSocket, the embedded RTSP server for the outputs, the pipes from decoders
  | 'inference'
  | 'decode'
  | 'probe'
  | 'rtsp-encode'
  | 'jpeg'
  | 'record'
  | 'camera-publisher'
  | 'camera-server'
  | 'other';

export const STAGES: readonly Stage[] = ['main', 'inference', 'decode', 'probe', 'rtsp-encode', 'jpeg', 'record', 'camera-publisher', 'camera-server', 'other'];

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** utime + stime, clock ticks */
  ticks: number;
  argv: string[];
}

/** /proc/<pid>/stat: the command name is in parentheses and may itself hold spaces and ')'. */
export function parseStat(text: string): { pid: number; ppid: number; ticks: number } | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const pid = parseInt(text, 10);
  // after ") ": state(3) ppid(4) ... utime(14) stime(15), numbered from 1 with pid and comm first
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const ppid = Number(f[1]);
  const ticks = Number(f[11]) + Number(f[12]);
  if (!Number.isFinite(pid) || !Number.isFinite(ppid) || !Number.isFinite(ticks)) return null;
  return { pid, ppid, ticks };
}

/** Every process readable now. */
export function readProcs(): Map<number, ProcInfo> {
  const out = new Map<number, ProcInfo>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${name}/stat`, 'utf8'));
      if (!stat) continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.set(stat.pid, { ...stat, argv });
    } catch {
      // gone between readdir and read
    }
  }
  return out;
}

/** The roots and everything below them. */
export function descendants(procs: Map<number, ProcInfo>, roots: number[]): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of procs.values()) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const seen = new Set<number>();
  const todo = roots.filter((r) => procs.has(r));
  while (todo.length) {
    const pid = todo.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return seen;
}

const base = (s: string) => s.slice(s.lastIndexOf('/') + 1);

/** What a process of the bench is, from its command line (`root`: the service's own process). */
export function classify(argv: string[], root = false): Stage {
  if (root) return 'main';
  const exe = base(argv[0] ?? '');
  if (exe.startsWith('ffprobe')) return 'probe';
  if (exe.startsWith('ffmpeg')) {
    const has = (a: string) => argv.includes(a);
    const after = (flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
    const formats = after('-f');
    const inputs = after('-i');
    const out = argv[argv.length - 1];
    if (formats.includes('mpjpeg') || after('-c:v').includes('mjpeg')) return 'jpeg';
    if (inputs.includes('pipe:0')) return formats.includes('rtsp') ? 'rtsp-encode' : 'record';
    if (out === 'pipe:1' && formats.includes('rawvideo')) return 'decode';
    // a file streamed as it is, to an RTSP server: a camera
    if (formats.includes('rtsp') && (has('copy') || after('-c').includes('copy'))) return 'camera-publisher';
    return 'other';
  }
  if (argv.some((a) => /infer-process\.(ts|js)$/.test(a))) return 'inference';
  if (argv.some((a) => /camera-server\.(ts|js)$/.test(a))) return 'camera-server';
  return 'other';
}

export interface Sample {
  at: number;
  procs: Map<number, { stage: Stage; ticks: number; group: 'service' | 'cameras' }>;
  /** the whole machine's busy ticks (all CPUs, /proc/stat), for the load beside the bench */
  machineBusy: number;
}

function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait
  return f.slice(0, 8).reduce((t, v, i) => (i === 3 || i === 4 ? t : t + v), 0);
}

/** One reading of the service's tree (rooted at `service`) and the cameras' trees. */
export function sample(service: number, cameras: number[]): Sample {
  const procs = readProcs();
  const camSet = descendants(procs, cameras);
  const svcSet = descendants(procs, [service]);
  const out: Sample['procs'] = new Map();
  for (const pid of svcSet) {
    if (camSet.has(pid)) continue;
    out.set(pid, { stage: classify(procs.get(pid)!.argv, pid === service), ticks: procs.get(pid)!.ticks, group: 'service' });
  }
  for (const pid of camSet) {
    const stage = classify(procs.get(pid)!.argv);
    out.set(pid, { stage: stage === 'other' ? 'camera-publisher' : stage, ticks: procs.get(pid)!.ticks, group: 'cameras' });
  }
  return { at: performance.now(), procs: out, machineBusy: machineBusyTicks() };
}

let clkTck: number | null = null;
function ticksPerSecond(): number {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface CpuUsage {
  /** cores (CPU seconds per second) by stage, over the window */
  stages: Partial<Record<Stage, number>>;
  /** processes per stage at the end of the window */
  processes: Partial<Record<Stage, number>>;
  service: number;
  cameras: number;
  /** the whole machine, everything on it included */
  machine: number;
  seconds: number;
}

/** Cores used between two samples; processes that started within the window count from zero. */
export function usage(a: Sample, b: Sample, hz = ticksPerSecond()): CpuUsage {
  const seconds = (b.at - a.at) / 1000;
  const stages: Partial<Record<Stage, number>> = {};
  const processes: Partial<Record<Stage, number>> = {};
  let service = 0;
  let cameras = 0;
  for (const [pid, p] of b.procs) {
    const cores = (p.ticks - (a.procs.get(pid)?.ticks ?? 0)) / hz / seconds;
    stages[p.stage] = (stages[p.stage] ?? 0) + cores;
    processes[p.stage] = (processes[p.stage] ?? 0) + 1;
    if (p.group === 'service') service += cores;
    else cameras += cores;
  }
  return { stages, processes, service, cameras, machine: (b.machineBusy - a.machineBusy) / hz / seconds, seconds };
}
