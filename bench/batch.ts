// Milliseconds per frame of the batched fused graph at batch sizes 1, 2, 4 ..., against the
// one-frame graph of `derain run`: the sessions the inference process opens for a shared
// session (one per batch size on the CPU, every shape fixed), run in alternation so a loaded
// machine's swings fall on every size alike; medians.
//
//   node --import tsx bench/batch.ts [--model fclip-unet-lite2] [--size 640x360] [--infer-size WxH]
//                                    [--sizes 1,2,4] [--rounds 15] [--threads n] [--json]
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { fixBatch } from '../src/infer/batch-graph.ts';
import { FUSED_IO } from '../src/infer/fused-graph.ts';
import { parseSize } from '../src/infer/infer-size.ts';
import { prepareModel } from '../src/infer/prepare-model.ts';
import { openSession } from '../src/infer/session.ts';
import { percentile } from '../src/util/percentile.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'fclip-unet-lite2' },
    size: { type: 'string', default: '640x360' },
    'infer-size': { type: 'string' },
    sizes: { type: 'string', default: '1,2,4' },
    rounds: { type: 'string', default: '15' },
    threads: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const frame = parseSize(args.size);
const req = args['infer-size'] ? { inferSize: parseSize(args['infer-size']) } : {};
const threads = args.threads ? Number(args.threads) : undefined;
const sizes = args.sizes.split(',').map(Number);
const { width: W, height: H } = frame;

interface Case {
  name: string;
  session: ort.InferenceSession;
  n: number;
  /** false: the one-frame graph ([H, W, 3] in) */
  batched: boolean;
  past: number[] | null;
}

const one = prepareModel(args.model, frame, req);
const dynamic = prepareModel(args.model, frame, req, 'dynamic');
const cases: Case[] = [{ name: 'one-frame graph', session: (await openSession(one.fused, { ep: 'cpu', threads })).session, n: 1, batched: false, past: one.past }];
for (const n of sizes) cases.push({ name: `batch ${n}`, session: (await openSession(fixBatch(dynamic.fused, n), { ep: 'cpu', threads })).session, n, batched: true, past: dynamic.past });

const image = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 7) % 251);

function feeds(c: Case): Record<string, ort.Tensor> {
  const { n } = c;
  const frames = new Uint8Array(n * image.length);
  for (let i = 0; i < n; i++) frames.set(image, i * image.length);
  const f: Record<string, ort.Tensor> = {
    [FUSED_IO.frame]: new ort.Tensor('uint8', frames, c.batched ? [n, H, W, 3] : [H, W, 3]),
    [FUSED_IO.state]: new ort.Tensor('float32', new Float32Array(n * 3 * W * H), [n, 3, H, W]),
    [FUSED_IO.smooth]: new ort.Tensor('float32', new Float32Array(n).fill(0.6), [n]),
  };
  if (c.past) {
    const [, ch, h, w] = c.past;
    f[FUSED_IO.past] = new ort.Tensor('float32', new Float32Array(n * ch * h * w), [n, ch, h, w]);
    f[FUSED_IO.reset] = new ort.Tensor('float32', new Float32Array(n), [n]);
  }
  return f;
}

// (the first runs of a session are slow: allocations, prepacking)
for (const c of cases) for (let i = 0; i < 3; i++) await c.session.run(feeds(c));
const perFrame = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (let r = 0; r < Number(args.rounds); r++) {
  for (const c of cases) {
    const f = feeds(c);
    const t0 = performance.now();
    await c.session.run(f);
    perFrame.get(c.name)!.push((performance.now() - t0) / c.n);
  }
}

const rows = cases.map((c) => {
  const ms = perFrame.get(c.name)!;
  return { case: c.name, n: c.n, msPerFrame: Math.round(percentile([...ms], 50) * 10) / 10, min: Math.round(Math.min(...ms) * 10) / 10 };
});
const result = { model: one.card.name, width: W, height: H, inferWidth: one.infer.width, inferHeight: one.infer.height, threads: threads ?? 'all', rounds: Number(args.rounds), rows };
if (args.json) console.log(JSON.stringify(result));
else {
  console.log(`${result.model} ${W}x${H} at ${one.infer.width}x${one.infer.height}, ${result.threads} threads, medians of ${result.rounds} alternating runs`);
  for (const r of rows) console.log(`  ${r.case.padEnd(16)} ${r.msPerFrame.toFixed(1).padStart(7)} ms/frame (min ${r.min.toFixed(1)})`);
}
await Promise.all(cases.map((c) => c.session.release()));
