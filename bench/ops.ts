// node --import tsx bench/ops.ts [--json] [--threads n]
// Times each block kind a CPU model might be built from, in onnxruntime-node on this machine,
// at the shapes of the lite models, against the convolution-peak graph measured in the same run.
// GFLOP counts only convolutions (2 × multiply-accumulates), as bench.ts does for whole models:
// a block whose extra ops (norms, activations, resizes) cost time shows a lower fraction.
import { Command } from 'commander';
import ort from 'onnxruntime-node';
import { GraphBuilder, DataType, type ElemType } from '../src/infer/graph-builder.ts';
import { convPeak, medianMs, sessionOptions } from './conv-peak.ts';

const program = new Command('ops')
  .option('--threads <n>', 'onnxruntime threads', (v) => parseInt(v, 10))
  .option('--json', 'one JSON object on stdout')
  .option('--runs <n>', 'timed runs per block (median)', (v) => parseInt(v, 10), 15)
  .option('--passes <n>', 'passes over all blocks (the best median is kept)', (v) => parseInt(v, 10), 3)
  .parse(process.argv);
const opts = program.opts<{ threads?: number; json?: boolean; runs: number; passes: number }>();
const log = (msg: string) => process.stderr.write(msg + '\n');

type Shape = [number, number, number, number];

/** A graph builder that also counts its convolutions' FLOPs; tensors carry their shapes. */
class Block {
  readonly b = new GraphBuilder('block');
  flops = 0;
  private seed = 1;
  readonly shapes = new Map<string, Shape>();
  constructor(
    readonly input: Shape,
    type: ElemType = DataType.FLOAT,
  ) {
    this.shapes.set(this.b.input('x', type, input), input);
  }
  private rand(n: number, scale: number): Float32Array {
    // deterministic, in [-scale, scale]: no denormals, no overflow through a few layers
    return new Float32Array(n).map(() => ((this.seed = (Math.imul(this.seed, 1664525) + 1013904223) >>> 0) / 2147483648 - 1) * scale);
  }
  shape(t: string): Shape {
    return this.shapes.get(t)!;
  }
  private put(t: string, s: Shape): string {
    this.shapes.set(t, s);
    return t;
  }
  conv(x: string, cout: number, k: number, o: { group?: number; stride?: number; bias?: boolean } = {}): string {
    const [n, cin, h, w] = this.shape(x);
    const g = o.group ?? 1;
    const st = o.stride ?? 1;
    const p = (k - 1) >> 1;
    const wt = this.b.f32(this.rand(cout * (cin / g) * k * k, 1 / Math.sqrt((cin / g) * k * k)), [cout, cin / g, k, k]);
    const ins = o.bias === false ? [x, wt] : [x, wt, this.b.f32(this.rand(cout, 0.1), [cout])];
    const ho = Math.floor((h + 2 * p - k) / st) + 1;
    const wo = Math.floor((w + 2 * p - k) / st) + 1;
    this.flops += 2 * cout * (cin / g) * k * k * ho * wo;
    return this.put(this.b.op('Conv', ins, { kernel_shape: [k, k], pads: [p, p, p, p], strides: [st, st], group: g }), [n, cout, ho, wo]);
  }
  /** elementwise / shape-preserving op */
  op(type: string, inputs: string[], attrs: Record<string, number | number[] | { float: number }> = {}, like = inputs[0]): string {
    return this.put(this.b.op(type, inputs, attrs), this.shape(like));
  }
  relu = (x: string) => this.op('Relu', [x]);
  leaky = (x: string) => this.op('LeakyRelu', [x], { alpha: { float: 0.1 } });
  /** the Erf form torch exports for nn.GELU() */
  gelu(x: string): string {
    const e = this.op('Erf', [this.op('Div', [x, this.b.f32([Math.SQRT2], [])])]);
    return this.op('Mul', [this.op('Mul', [x, this.op('Add', [e, this.b.f32([1], [])])]), this.b.f32([0.5], [])]);
  }
  /** models/fclip_unet/model.py ChannelNorm as exported: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add */
  layerNorm(x: string): string {
    const c = this.shape(x)[1];
    const [n, , h, w] = this.shape(x);
    const mean = (t: string) => this.put(this.b.op('ReduceMean', [t], { axes: [1], keepdims: 1 }), [n, 1, h, w]);
    const d = this.op('Sub', [x, mean(x)]);
    const v = mean(this.op('Pow', [d, this.b.f32([2], [])]));
    const y = this.op('Div', [d, this.op('Sqrt', [this.op('Add', [v, this.b.f32([1e-6], [])])])]);
    return this.op('Add', [this.op('Mul', [y, this.b.f32(this.rand(c, 1), [1, c, 1, 1])]), this.b.f32(this.rand(c, 0.1), [1, c, 1, 1])]);
  }
  scale(x: string): string {
    const c = this.shape(x)[1];
    return this.op('Mul', [x, this.b.f32(new Float32Array(c).fill(0.01), [1, c, 1, 1])]);
  }
  resize2(x: string): string {
    const [n, c, h, w] = this.shape(x);
    const t = this.b.op('Resize', [x, '', this.b.f32([1, 1, 2, 2])], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
    return this.put(t, [n, c, 2 * h, 2 * w]);
  }
  depthToSpace(x: string): string {
    const [n, c, h, w] = this.shape(x);
    return this.put(this.b.op('DepthToSpace', [x], { blocksize: 2, mode: 'CRD' }), [n, c / 4, 2 * h, 2 * w]);
  }
  convTranspose2(x: string, cout: number): string {
    const [n, cin, h, w] = this.shape(x);
    const wt = this.b.f32(this.rand(cin * cout * 4, 1 / Math.sqrt(cin)), [cin, cout, 2, 2]);
    this.flops += 2 * cin * cout * 4 * h * w;
    return this.put(this.b.op('ConvTranspose', [x, wt, this.b.f32(this.rand(cout, 0.1), [cout])], { kernel_shape: [2, 2], strides: [2, 2] }), [n, cout, 2 * h, 2 * w]);
  }
  /** int8 conv + ReLU on a uint8 input, as models/fclip_unet/quantize.py writes it (DQ -> Conv -> Q,
   * per-channel int8 weights, int32 bias): onnxruntime runs it as one QLinearConv */
  qconv(x: string, cout: number, k: number, group = 1): string {
    const [n, cin, h, w] = this.shape(x);
    const p = (k - 1) >> 1;
    const fan = (cin / group) * k * k;
    const xs = 0.02;
    const ws = 2 / 127 / Math.sqrt(fan);
    const init = (type: ElemType, dims: number[], data: ArrayBufferView) => this.b.init('q', type, dims, data);
    const xd = this.b.op('DequantizeLinear', [x, this.b.f32([xs], []), init(DataType.UINT8, [], Uint8Array.of(128))]);
    const wq = init(DataType.INT8, [cout, cin / group, k, k], Int8Array.from(this.rand(cout * fan, 127), Math.round));
    const wd = this.b.op('DequantizeLinear', [wq, this.b.f32(new Float32Array(cout).fill(ws)), init(DataType.INT8, [cout], new Int8Array(cout))], { axis: 0 });
    const bq = init(DataType.INT32, [cout], Int32Array.from(this.rand(cout, 1000), Math.round));
    const bd = this.b.op('DequantizeLinear', [bq, this.b.f32(new Float32Array(cout).fill(xs * ws)), init(DataType.INT32, [cout], new Int32Array(cout))], { axis: 0 });
    const y = this.b.op('Relu', [this.b.op('Conv', [xd, wd, bd], { kernel_shape: [k, k], pads: [p, p, p, p], group })]);
    this.flops += 2 * cout * (cin / group) * k * k * h * w;
    return this.put(this.b.op('QuantizeLinear', [y, this.b.f32([0.05], []), init(DataType.UINT8, [], Uint8Array.of(0))]), [n, cout, h, w]);
  }
  /** a second input (a skip connection) */
  extra(name: string, s: Shape): string {
    return this.put(this.b.input(name, DataType.FLOAT, s), s);
  }
  concat(a: string, b: string): string {
    const [n, ca, h, w] = this.shape(a);
    return this.put(this.b.op('Concat', [a, b], { axis: 1 }), [n, ca + this.shape(b)[1], h, w]);
  }
}

interface Case {
  block: string;
  shape: Shape;
  build: (k: Block, x: string) => string;
  /** extra inputs: name → shape */
  skips?: Record<string, Shape>;
  /** uint8 input and output (the int8 rows) */
  uint8?: boolean;
}

const SIZES: [number, number][] = [
  [96, 160],
  [48, 80],
  [24, 40],
];
const S = (c: number, [h, w]: [number, number]): Shape => [1, c, h, w];
const cases: Case[] = [];
for (const hw of SIZES) for (const c of [16, 32, 64, 96, 128]) cases.push({ block: 'conv3x3+ReLU', shape: S(c, hw), build: (k, x) => k.relu(k.conv(x, c, 3)) });
for (const hw of SIZES) for (const c of [32, 64, 128]) cases.push({ block: 'conv1x1+ReLU', shape: S(c, hw), build: (k, x) => k.relu(k.conv(x, c, 1)) });
for (const hw of SIZES) for (const c of [32, 64, 128]) cases.push({ block: 'dw3x3', shape: S(c, hw), build: (k, x) => k.conv(x, c, 3, { group: c }) });
for (const hw of SIZES) for (const c of [32, 64, 128]) cases.push({ block: 'dw7x7', shape: S(c, hw), build: (k, x) => k.conv(x, c, 7, { group: c }) });
for (const [c, hw] of [
  [32, SIZES[0]],
  [64, SIZES[1]],
  [128, SIZES[2]],
] as const) {
  cases.push({ block: 'conv3x3 (BN folded: +bias)', shape: S(c, hw), build: (k, x) => k.conv(x, c, 3) });
  cases.push({ block: 'conv3x3 + LayerNorm', shape: S(c, hw), build: (k, x) => k.layerNorm(k.conv(x, c, 3)) });
  cases.push({ block: 'conv3x3 + ReLU', shape: S(c, hw), build: (k, x) => k.relu(k.conv(x, c, 3)) });
  cases.push({ block: 'conv3x3 + LeakyReLU', shape: S(c, hw), build: (k, x) => k.leaky(k.conv(x, c, 3)) });
  cases.push({ block: 'conv3x3 + GELU (erf)', shape: S(c, hw), build: (k, x) => k.gelu(k.conv(x, c, 3)) });
}
// upsampling by 2 from the given (low-resolution) input to cout channels: all three do the same FLOPs
for (const [cin, cout, hw] of [
  [128, 96, SIZES[2]],
  [96, 64, SIZES[1]],
  [64, 32, SIZES[1]],
] as const) {
  cases.push({ block: `up: Resize x2 + 1x1 ->${cout}`, shape: S(cin, hw), build: (k, x) => k.conv(k.resize2(x), cout, 1) });
  cases.push({ block: `up: 1x1 ->4x${cout} + DepthToSpace`, shape: S(cin, hw), build: (k, x) => k.depthToSpace(k.conv(x, 4 * cout, 1)) });
  cases.push({ block: `up: ConvTranspose 2x2/2 ->${cout}`, shape: S(cin, hw), build: (k, x) => k.convTranspose2(x, cout) });
}
// skip connections: x (C channels) joins s (Cs channels) at the same resolution
for (const [c, cs, hw] of [
  [96, 128, SIZES[1]],
  [64, 32, SIZES[0]],
] as const) {
  const skips = { s: S(cs, hw) };
  cases.push({ block: `skip: concat + 1x1 (${c}+${cs}->${c})`, shape: S(c, hw), skips, build: (k, x) => k.conv(k.concat(x, k.extra('s', skips.s)), c, 1) });
  cases.push({ block: `skip: x + 1x1(s) (${cs}->${c})`, shape: S(c, hw), skips, build: (k, x) => k.op('Add', [x, k.conv(k.extra('s', skips.s), c, 1)]) });
}
for (const [c, hw] of [
  [128, SIZES[2]],
  [96, SIZES[1]],
  [64, SIZES[1]],
  [32, SIZES[0]],
] as const) {
  cases.push({ block: 'ConvNeXt block', shape: S(c, hw), build: (k, x) => k.op('Add', [x, k.scale(k.conv(k.gelu(k.conv(k.layerNorm(k.conv(x, c, 7, { group: c })), 4 * c, 1)), c, 1))]) });
  cases.push({ block: 'ResBlock', shape: S(c, hw), build: (k, x) => k.op('Add', [x, k.scale(k.conv(k.relu(k.conv(x, c, 3)), c, 3))]) });
}

// int8 (uint8 activations, int8 weights), and the peak graph's own shape
for (const shape of [...[32, 64, 128].flatMap((c) => SIZES.map((hw) => S(c, hw))), [1, 64, 90, 160] as Shape])
  cases.push({ block: 'int8 conv3x3+ReLU', shape, uint8: true, build: (k, x) => k.qconv(x, shape[1], 3) });
for (const c of [64, 128]) cases.push({ block: 'int8 conv1x1+ReLU', shape: S(c, SIZES[1]), uint8: true, build: (k, x) => k.qconv(x, c, 1) });
for (const kk of [3, 7]) cases.push({ block: `int8 dw${kk}x${kk}+ReLU`, shape: S(64, SIZES[1]), uint8: true, build: (k, x) => k.qconv(x, 64, kk, 64) });

function tensor(s: Shape, seed: number, uint8 = false): ort.Tensor {
  const n = s.reduce((a, b) => a * b, 1);
  let v = seed;
  const next = () => (v = (v * 16807) % 2147483647) / 2147483647;
  return uint8
    ? new ort.Tensor(
        'uint8',
        new Uint8Array(n).map(() => next() * 255),
        s,
      )
    : new ort.Tensor('float32', new Float32Array(n).map(next), s);
}

interface Row {
  block: string;
  shape: string;
  gflop: number;
  ms: number;
  gflops: number;
  fraction?: number;
}

async function time(c: Case): Promise<Row> {
  const k = new Block(c.shape, c.uint8 ? DataType.UINT8 : DataType.FLOAT);
  const y = c.build(k, 'x');
  k.b.rename(y, 'y');
  k.b.output('y', c.uint8 ? DataType.UINT8 : DataType.FLOAT, ['n', 'c', 'h', 'w']);
  const s = await ort.InferenceSession.create(k.b.toBytes(17), sessionOptions(opts.threads));
  const feed: Record<string, ort.Tensor> = { x: tensor(c.shape, 7, c.uint8) };
  for (const [name, shape] of Object.entries(c.skips ?? {})) feed[name] = tensor(shape, 11);
  const ms = await medianMs(s, feed, opts.runs, 2);
  await s.release();
  return { block: c.block, shape: `[${c.shape.join(',')}]`, gflop: k.flops / 1e9, ms, gflops: k.flops / 1e6 / ms };
}

async function main() {
  const t0 = performance.now();
  // The machine is shared and a process's first seconds run slower (measured: the same graph
  // 4x slower at the start of a run than at its end), so every pass measures the peak and all
  // blocks again; the best peak and each block's best median are kept.
  const peaks: number[] = [];
  let rows: Row[] = [];
  for (let pass = 0; pass < opts.passes; pass++) {
    peaks.push(await convPeak(opts.threads));
    log(`ops: pass ${pass + 1}: convolution peak ${peaks[pass].toFixed(1)} GFLOP/s; ${cases.length} blocks, ${opts.runs} runs each`);
    const now: Row[] = [];
    for (const c of cases) now.push(await time(c));
    rows = pass === 0 ? now : rows.map((r, i) => (now[i].ms < r.ms ? now[i] : r));
  }
  peaks.push(await convPeak(opts.threads));
  const peak = Math.max(...peaks);
  for (const r of rows) r.fraction = r.gflops / peak;
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  const result = {
    threads: opts.threads ?? 'onnxruntime default',
    peakGflops: r3(peak),
    peakRuns: peaks.map(r3),
    seconds: r3((performance.now() - t0) / 1000),
    rows: rows.map((r) => ({ ...r, gflop: r3(r.gflop), ms: r3(r.ms), gflops: r3(r.gflops), fraction: r3(r.fraction!) })),
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  const table = [['block', 'shape', 'GFLOP', 'ms', 'GFLOP/s', 'of peak'], ...rows.map((r) => [r.block, r.shape, r.gflop.toFixed(3), r.ms.toFixed(2), r.gflops.toFixed(1), r.fraction!.toFixed(2)])];
  const wid = table[0].map((_, i) => Math.max(...table.map((t) => t[i].length)));
  const line = (t: string[]) => `| ${t.map((v, i) => (i < 2 ? v.padEnd(wid[i]) : v.padStart(wid[i]))).join(' | ')} |`;
  process.stdout.write([line(table[0]), `|${wid.map((w, i) => '-'.repeat(w + 1) + (i < 2 ? '-' : ':')).join('|')}|`, ...table.slice(1).map(line)].join('\n') + '\n');
  process.stdout.write(`peak ${peak.toFixed(1)} GFLOP/s (runs: ${peaks.map((p) => p.toFixed(1)).join(', ')}), threads ${result.threads}, ${result.seconds.toFixed(0)} s\n`);
}

main().catch((err) => {
  process.stderr.write(`ops: error: ${(err as Error).stack}\n`);
  process.exitCode = 1;
});
