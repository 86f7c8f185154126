// node --import tsx bench/transport.ts [--frames N] [--rounds R] [--json]
// What it costs to run inference outside the service's thread, per frame, for the ways it can be
// done: a worker thread (transferred ArrayBuffers, as before the child process), and a child
// process with the frames in length-prefixed binary messages on its pipe, in shared-memory
// slots with only the messages on the pipe (what Derainer does), or over Node's IPC channel with
// 'advanced' serialization. The same model (builtin-tiny at 640x360: little compute,
// so the transport shows) and the same engine run in each; the transports take turns frame by
// frame, and medians are taken, because the machine is shared and noisy.
//   one at a time: wall time per frame minus the time inside session.run = the transport's cost
//   2 in flight: wall time per frame of blocks of 10 frames (what `derain run` does)
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { Derainer } from '../src/infer/derainer.ts';
import { prepareModel } from '../src/infer/prepare-model.ts';
import { percentile } from '../src/util/percentile.ts';
import type { Frame } from '../src/frame.ts';

const W = 640;
const H = 360;

const program = new Command('bench-transport')
  .option('--frames <n>', 'frames per measurement', (v) => parseInt(v, 10), 300)
  .option('--rounds <n>', 'rounds (each measures every transport)', (v) => parseInt(v, 10), 3)
  .option('--json', 'one JSON object on stdout')
  .parse(process.argv);
const opts = program.opts<{ frames: number; rounds: number; json?: boolean }>();
const log = (msg: string) => process.stderr.write(msg + '\n');
const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

interface Transport {
  infer(frame: Buffer): Promise<{ out: Uint8Array; ms: number }>;
  close(): Promise<void>;
}

type Opener = (model: Uint8Array) => Promise<Transport>;

const init = { ep: 'cpu' as const, width: W, height: H, past: null };
const tsxApi = import.meta.resolve('tsx/esm/api');
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

/** Pending results by id, settled by whatever carries them back. */
class Replies {
  private next = 0;
  private readonly waiting = new Map<number, (r: { out: Uint8Array; ms: number }) => void>();
  add(): { id: number; done: Promise<{ out: Uint8Array; ms: number }> } {
    const id = this.next++;
    return { id, done: new Promise((r) => this.waiting.set(id, r)) };
  }
  settle(id: number, out: Uint8Array, ms: number): void {
    this.waiting.get(id)?.({ out, ms });
    this.waiting.delete(id);
  }
}

const workerThread: Opener = async (model) => {
  const file = pathToFileURL(here('./transport/worker-host.ts')).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(file)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: { ...init, model } });
  await new Promise((r) => worker.once('message', r));
  const replies = new Replies();
  const spare: ArrayBuffer[] = [];
  worker.on('message', (m: { id: number; frame: ArrayBuffer; out: ArrayBuffer; ms: number }) => {
    spare.push(m.frame);
    replies.settle(m.id, new Uint8Array(m.out), m.ms);
  });
  let started = false;
  return {
    infer(frame) {
      // as the worker-thread Derainer did: a copy into a spare buffer, transferred
      const buf = spare.pop() ?? new ArrayBuffer(frame.length);
      new Uint8Array(buf).set(frame);
      const { id, done } = replies.add();
      worker.postMessage({ id, frame: buf, lane: 0, smooth: 0.5, reset: !started }, [buf]);
      started = true;
      return done;
    },
    async close() {
      worker.postMessage('close');
      await new Promise((r) => worker.once('exit', r));
    },
  };
};

const childProcess =
  (frameSlots: boolean): Opener =>
  async (model) => {
    const d = await Derainer.open({ model, width: W, height: H, ep: 'cpu', smooth: 0.5, frameSlots });
    let seq = 0;
    return {
      async infer(data) {
        const frame: Frame = { data, width: W, height: H, seq: seq++, pts: 0, capturedAt: 0 };
        const r = await d.infer(frame);
        return { out: r.frame.data, ms: r.inferenceMs };
      },
      close: () => d.close(),
    };
  };

const childIpc: Opener = async (model) => {
  const child = fork(here('./transport/ipc-child.ts'), [], { serialization: 'advanced', execArgv: ['--import', import.meta.resolve('tsx')] });
  const replies = new Replies();
  const ready = new Promise((r) => child.once('message', r));
  child.send({ type: 'init', ...init, model });
  await ready;
  child.on('message', (m: { type: string; id: number; out: Uint8Array; ms: number }) => {
    if (m.type === 'done') replies.settle(m.id, m.out, m.ms);
  });
  let started = false;
  return {
    infer(frame) {
      const { id, done } = replies.add();
      child.send({ type: 'run', id, frame, lane: 0, smooth: 0.5, reset: !started });
      started = true;
      return done;
    },
    async close() {
      child.send({ type: 'close' });
      await new Promise((r) => child.once('exit', r));
    },
  };
};

const TRANSPORTS: [string, Opener][] = [
  ['worker thread (transferred ArrayBuffers)', workerThread],
  ['child process, pipe (length-prefixed binary)', childProcess(false)],
  ['child process, shared-memory slots + pipe', childProcess(true)],
  ['child process, IPC (advanced serialization)', childIpc],
];

function framesOf(n: number): Buffer[] {
  return Array.from({ length: n }, (_, k) => {
    const b = Buffer.allocUnsafe(W * H * 3);
    for (let i = 0; i < b.length; i++) b[i] = (i * 7 + k * 31) & 255;
    return b;
  });
}

interface Measured {
  wallMs: number;
  inferMs: number;
  overheadMs: number;
  overheadP95Ms: number;
  pipelinedMs: number;
}

/** ms per frame of `n` frames with 2 in flight */
async function pipelined(t: Transport, frames: Buffer[], n: number): Promise<number> {
  const inflight: Promise<unknown>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    inflight.push(t.infer(frames[i % frames.length]));
    if (inflight.length >= 2) await inflight.shift();
  }
  await Promise.all(inflight);
  return (performance.now() - t0) / n;
}

/**
 * One round: every transport open at once, taking turns frame by frame (and in blocks of 10
 * for the pipelined figure), so a load that comes and goes on the machine falls on all alike.
 */
async function measureRound(model: Uint8Array, frames: Buffer[]): Promise<Measured[]> {
  const open: Transport[] = [];
  for (const [, opener] of TRANSPORTS) open.push(await opener(model));
  for (const t of open) for (let i = 0; i < 20; i++) await t.infer(frames[i % frames.length]); // warm-up
  const wall = open.map((): number[] => []);
  const infer = open.map((): number[] => []);
  const over = open.map((): number[] => []);
  for (let i = 0; i < opts.frames; i++) {
    for (const [k, t] of open.entries()) {
      const t0 = performance.now();
      const r = await t.infer(frames[i % frames.length]);
      const ms = performance.now() - t0;
      if (r.out.length !== W * H * 3) throw new Error(`a ${r.out.length}-byte output`);
      wall[k].push(ms);
      infer[k].push(r.ms);
      over[k].push(ms - r.ms);
    }
  }
  const block = 10;
  const piped = open.map((): number[] => []);
  for (let i = 0; i < opts.frames; i += block) for (const [k, t] of open.entries()) piped[k].push(await pipelined(t, frames, block));
  for (const t of open) await t.close();
  return open.map((_, k) => ({
    wallMs: percentile(wall[k], 50),
    inferMs: percentile(infer[k], 50),
    overheadMs: percentile(over[k], 50),
    overheadP95Ms: percentile(over[k], 95),
    pipelinedMs: percentile(piped[k], 50),
  }));
}

async function main() {
  const prepared = prepareModel('builtin-tiny', { width: W, height: H }, {});
  const frames = framesOf(8);
  log(
    `bench-transport: builtin-tiny at ${prepared.infer.width}x${prepared.infer.height} on cpu, ${W}x${H} rgb24 (${((W * H * 3) / 1e6).toFixed(2)} MB a frame), ${opts.frames} frames x ${opts.rounds} rounds`,
  );
  const runs = new Map<string, Measured[]>(TRANSPORTS.map(([name]) => [name, []]));
  for (let r = 0; r < opts.rounds; r++) {
    const measured = await measureRound(prepared.fused, frames);
    for (const [k, [name]] of TRANSPORTS.entries()) {
      const m = measured[k];
      runs.get(name)!.push(m);
      log(
        `  round ${r + 1}: ${name}: ${m.wallMs.toFixed(2)} ms/frame one at a time (${m.inferMs.toFixed(2)} in session.run, ${m.overheadMs.toFixed(2)} transport), ${m.pipelinedMs.toFixed(2)} ms/frame with 2 in flight`,
      );
    }
  }
  const med = (ms: Measured[], k: keyof Measured) =>
    round(
      percentile(
        ms.map((m) => m[k]),
        50,
      ),
    );
  const result = [...runs].map(([transport, ms]) => ({
    transport,
    wallMs: med(ms, 'wallMs'),
    inferMs: med(ms, 'inferMs'),
    overheadMs: med(ms, 'overheadMs'),
    overheadP95Ms: med(ms, 'overheadP95Ms'),
    pipelinedMs: med(ms, 'pipelinedMs'),
  }));
  if (opts.json) process.stdout.write(JSON.stringify({ width: W, height: H, model: 'builtin-tiny', frames: opts.frames, rounds: opts.rounds, result }) + '\n');
  else {
    log('median of the rounds (ms per frame):');
    log('  transport                                        one-at-a-time  in session.run  transport p50  transport p95  2 in flight');
    for (const r of result)
      log(
        `  ${r.transport.padEnd(48)} ${r.wallMs.toFixed(2).padStart(13)}  ${r.inferMs.toFixed(2).padStart(14)}  ${r.overheadMs.toFixed(2).padStart(13)}  ${r.overheadP95Ms.toFixed(2).padStart(13)}  ${r.pipelinedMs.toFixed(2).padStart(11)}`,
      );
  }
}

await main();
