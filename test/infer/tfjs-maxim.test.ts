// The whole MAXIM deraining import: its signature, and the package's own before/after pair.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { convertGraphModel } from '../../src/infer/tfjs/convert.ts';
import { readGraphModel } from '../../src/infer/tfjs/graph-model.ts';
import { encodeModel } from '../../src/infer/onnx-proto.ts';
import { modelInputs } from '../../src/infer/graph-merge.ts';
import { decodeRgb, ROOT } from '../helpers.ts';

const PKG = path.join(ROOT, 'node_modules', '@upscalerjs', 'maxim-deraining');
const model = convertGraphModel(readGraphModel(path.join(PKG, 'models')), { io: 'image', where: 'maxim' });
const bytes = encodeModel(model);

test('the import takes and returns NCHW RGB of any size, and runs every pattern fused', () => {
  assert.deepEqual(
    modelInputs(model).map((i) => i.dims),
    [['batch', 3, 'height', 'width']],
  );
  const out = model.graph!.output![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
  assert.deepEqual(out, ['batch', 3, 'height', 'width']);
  const count = (op: string) => model.graph!.node!.filter((n) => n.opType === op).length;
  // MAXIM-2S: 152 GELUs, 240 LayerNorms, 24 leaky ReLUs, 112 gating Dense layers along an axis, 24 resizes (see fuse.ts).
  assert.equal(count('Gelu'), 152);
  assert.equal(count('LayerNormalization'), 240);
  assert.equal(count('LeakyRelu'), 24);
  assert.equal(count('Einsum'), 0);
  assert.equal(count('Conv') + count('ConvTranspose'), 70 + 12, '3x3 and strided convolutions stay Conv; 1x1 ones became MatMul');
});

test("on the package's fixture.png the import reproduces its result.png (a 128x128 crop)", async () => {
  const [W, cx, cy, s] = [480, 160, 96, 128];
  const rain = decodeRgb(path.join(PKG, 'assets', 'fixture.png'));
  const ref = decodeRgb(path.join(PKG, 'assets', 'result.png'));
  assert.equal(rain.length, 480 * 320 * 3);
  const x = new Float32Array(3 * s * s);
  for (let c = 0; c < 3; c++) for (let y = 0; y < s; y++) for (let i = 0; i < s; i++) x[(c * s + y) * s + i] = rain[((cy + y) * W + cx + i) * 3 + c] / 255;
  // Fixed dimensions let onnxruntime fold the run-time shape arithmetic at load (seconds instead of a minute).
  const session = await ort.InferenceSession.create(bytes, { freeDimensionOverrides: { batch: 1, height: s, width: s } });
  const out = (await session.run({ input: new ort.Tensor('float32', x, [1, 3, s, s]) })).output.data as Float32Array;
  await session.release();
  let se = 0;
  let seInput = 0;
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < s; y++)
      for (let i = 0; i < s; i++) {
        const r = ref[((cy + y) * W + cx + i) * 3 + c];
        const v = Math.round(Math.min(1, Math.max(0, out[(c * s + y) * s + i])) * 255);
        se += (v - r) ** 2;
        seInput += (rain[((cy + y) * W + cx + i) * 3 + c] - r) ** 2;
      }
  const psnr = (sum: number) => 10 * Math.log10((255 * 255) / (sum / (3 * s * s)));
  // Measured: 45.4 dB (the whole 480x320 image, reflection-padded to 512x320: 46.0 dB); the rainy input: 12.4 dB.
  assert.ok(psnr(se) > 40, `import vs result.png: ${psnr(se).toFixed(2)} dB`);
  assert.ok(psnr(seInput) < 15, `input vs result.png: ${psnr(seInput).toFixed(2)} dB`);
});
