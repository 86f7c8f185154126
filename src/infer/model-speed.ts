// Speed of a model as `derain run` runs it: the fused graph for a 640x360 frame at the card's
// inference size, ms per frame (median) and GFLOP per frame. The multiply-adds are counted from
// the shapes onnxruntime's profiler records in one run: unlike flops.ts, which keeps every
// intermediate tensor of the run, this fits in memory for a model as large as MAXIM.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { FUSED_IO } from './fused-graph.js';
import { MODEL_DEFAULTS } from './model-settings.js';
import { prepareModel } from './prepare-model.js';
import { cpuThreads, openSession } from './session.js';
import { ortLogSeverity } from './session.js';

export interface SpeedOptions {
  width?: number;
  height?: number;
  /** timed frames after one warm-up frame */
  frames?: number;
  threads?: number;
}

export interface SpeedResult {
  model: string;
  width: number;
  height: number;
  inferWidth: number;
  inferHeight: number;
  ep: string;
  threads: number;
  msPerFrame: number;
  msEach: number[];
  gflopPerFrame: number;
}

/** Inputs for one run of a fused graph outside the inference process (timing, counting): zero state; by default a ramp frame. */
export function fusedFeeds(width: number, height: number, past: number[] | null, frame?: Uint8Array): Record<string, ort.Tensor> {
  // Content does not change the work; a ramp keeps the values ordinary.
  frame ??= Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 7) % 251);
  const f: Record<string, ort.Tensor> = {
    [FUSED_IO.frame]: new ort.Tensor('uint8', frame, [height, width, 3]),
    [FUSED_IO.state]: new ort.Tensor('float32', new Float32Array(3 * width * height), [1, 3, height, width]),
    [FUSED_IO.smooth]: new ort.Tensor('float32', new Float32Array([MODEL_DEFAULTS.smooth]), [1]),
  };
  if (past) {
    f[FUSED_IO.past] = new ort.Tensor('float32', new Float32Array(past.reduce((a, b) => a * b, 1)), past);
    f[FUSED_IO.reset] = new ort.Tensor('float32', new Float32Array([0]), [1]);
  }
  return f;
}

interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

/** Multiply-adds (×2) of the convolutions and matrix products of one profiled run. */
export function flopsFromProfile(events: ProfileEvent[]): number {
  const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);
  let flops = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args) continue;
    const op = e.args.op_name;
    if (op !== 'Conv' && op !== 'ConvTranspose' && op !== 'MatMul' && op !== 'Gemm') continue;
    const [a, b] = (e.args.input_type_shape ?? []).map((s) => Object.values(s)[0] ?? []);
    if (!a || !b) throw new Error(`the profile lists fewer than two inputs of a ${op} node`);
    const out = Object.values(e.args.output_type_shape?.[0] ?? {})[0] ?? [];
    if (op === 'Conv') flops += 2 * prod(out) * (b[1] ?? 0) * prod(b.slice(2));
    else if (op === 'ConvTranspose') flops += 2 * prod(a) * (b[1] ?? 0) * prod(b.slice(2));
    else if (op === 'MatMul' || op === 'Gemm') flops += 2 * prod(out) * (a[a.length - 1] ?? 0);
  }
  return flops;
}

async function countFlopsByProfile(fused: Uint8Array, width: number, height: number, past: number[] | null): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'derain-profile-'));
  try {
    // 'basic' keeps Conv and MatMul as themselves (no blocked layouts or fused kernels to decode);
    // without prepacking, constant weights stay listed among each node's inputs.
    const session = await ort.InferenceSession.create(fused, {
      graphOptimizationLevel: 'basic',
      logSeverityLevel: ortLogSeverity(),
      enableProfiling: true,
      profileFilePrefix: path.join(dir, 'run'),
      extra: { session: { disable_prepacking: '1' } },
    });
    await session.run(fusedFeeds(width, height, past));
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('onnxruntime wrote no profile');
    return flopsFromProfile(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function measureSpeed(model: string, opts: SpeedOptions = {}): Promise<SpeedResult> {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const prepared = prepareModel(model, { width, height }, {});
  const flops = await countFlopsByProfile(prepared.fused, width, height, prepared.past);
  const { session, ep } = await openSession(prepared.fused, { ep: 'cpu', threads: opts.threads });
  const input = fusedFeeds(width, height, prepared.past);
  const msEach: number[] = [];
  try {
    await session.run(input);
    for (let i = 0; i < (opts.frames ?? 3); i++) {
      const t = performance.now();
      await session.run(input);
      msEach.push(performance.now() - t);
    }
  } finally {
    await session.release();
  }
  const sorted = [...msEach].sort((x, y) => x - y);
  return {
    model: prepared.card.name,
    width,
    height,
    inferWidth: prepared.infer.width,
    inferHeight: prepared.infer.height,
    ep,
    threads: opts.threads ?? cpuThreads(),
    msPerFrame: Math.round(sorted[Math.floor(sorted.length / 2)] * 10) / 10,
    msEach: msEach.map((m) => Math.round(m * 10) / 10),
    gflopPerFrame: Math.round(flops / 1e7) / 100,
  };
}
