// The convolution-peak graph that bench.ts and ops.ts both measure against, and the timing they share.
import ort from 'onnxruntime-node';
import { cpuThreads } from '../src/infer/session.ts';
import { GraphBuilder, DataType } from '../src/infer/graph-builder.ts';

/** The model's sessions' thread count (src/infer/session.ts decides it where none is given), so the peak is measured as the model runs. */
export function sessionOptions(threads?: number): ort.InferenceSession.SessionOptions {
  return { intraOpNumThreads: threads ?? cpuThreads() };
}

/** Median milliseconds of `runs` session runs after `warmup` unmeasured ones. */
export async function medianMs(s: ort.InferenceSession, feed: Record<string, ort.Tensor>, runs = 15, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await s.run(feed);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await s.run(feed);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[(times.length - 1) >> 1];
}

/** Four 3×3 convolutions of 64 channels: as close to the machine's convolution peak as onnxruntime gets. GFLOP/s. */
export async function convPeak(threads?: number): Promise<number> {
  const b = new GraphBuilder('peak');
  let x = b.input('x', DataType.FLOAT, [1, 64, 90, 160]);
  const wts = new Float32Array(64 * 64 * 9).map((_, i) => ((i % 17) - 8) / 400);
  for (let i = 0; i < 4; i++) x = b.op('Conv', [x, b.f32(wts, [64, 64, 3, 3])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  b.rename(x, 'y');
  b.output('y', DataType.FLOAT, [1, 64, 90, 160]);
  const s = await ort.InferenceSession.create(b.toBytes(13), sessionOptions(threads));
  const feed = { x: new ort.Tensor('float32', new Float32Array(64 * 90 * 160).fill(0.5), [1, 64, 90, 160]) };
  // The first second of a process runs this graph at ~0.6 of the speed that follows (measured:
  // 115-135 then 190-200 GFLOP/s, three processes): the best of three medians is the peak.
  const ms = Math.min(await medianMs(s, feed), await medianMs(s, feed), await medianMs(s, feed));
  await s.release();
  const flops = 4 * 2 * 64 * 64 * 9 * 90 * 160;
  return flops / (ms / 1000) / 1e9;
}
