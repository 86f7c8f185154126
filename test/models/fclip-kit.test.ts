// The FCLIP-UNet kit (models/fclip_unet, PyTorch): its own unit tests, and its ONNX export
// checked in onnxruntime-node against PyTorch, then run by `derain run` as a user would.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ROOT, countFrames, derain, makeClip, tmpDir } from '../helpers.ts';

const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

function python(args: string[], timeout = 600_000) {
  const r = spawnSync(PYTHON, args, { cwd: ROOT, encoding: 'utf8', timeout, env: { ...process.env, OMP_NUM_THREADS: '2' } });
  if (r.error) throw r.error;
  return r;
}

test('the kit\'s PyTorch tests pass (shapes, frozen encoder, LDFPS, CLIP key layout, data, training)', () => {
  const r = python(['-m', 'unittest', 'discover', '-s', 'models/fclip_unet/tests', '-t', '.']);
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const ran = /Ran (\d+) tests/.exec(r.stderr);
  assert.ok(ran && Number(ran[1]) >= 15, r.stderr.slice(-500));
  assert.match(r.stderr, /\nOK/);
});

for (const [preset, size] of [
  ['fclip-unet-lite', '40x56'],
  ['fclip-unet', '37x70'],
  // the space-to-depth stem, which the export folds into two convolutions (fold.py)
  ['fclip-unet-lite2', '45x70'],
] as const) {
  test(`${preset}: the exported ONNX matches PyTorch in onnxruntime-node (max |diff| <= 1e-4, fp32)`, async () => {
    const dir = tmpDir();
    const r = python(['-m', 'models.fclip_unet.reference', '--preset', preset, '--size', size, '--out', dir]);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    const read = (f: string) => {
      const b = readFileSync(path.join(dir, f));
      return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    };
    const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
    try {
      assert.deepEqual(session.inputNames, ['input']);
      const out = await session.run({ input: new ort.Tensor('float32', read('input.f32'), meta.input) });
      const got = out[session.outputNames[0]];
      assert.deepEqual(got.dims, meta.output);
      const want = read('output.f32');
      const data = got.data as Float32Array;
      let maxDiff = 0;
      let maxAbs = 0;
      for (let i = 0; i < want.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(data[i] - want[i]));
        maxAbs = Math.max(maxAbs, Math.abs(want[i]));
      }
      assert.ok(maxAbs > 0.01, `the fixture output is not trivially small (max ${maxAbs})`);
      assert.ok(maxDiff <= 1e-4, `max |onnxruntime - pytorch| = ${maxDiff}`);
    } finally {
      await session.release();
    }
  });
}

test('export writes the model and its card; `derain run --model <file.onnx>` runs it at odd sizes', async () => {
  const dir = tmpDir();
  const onnx = path.join(dir, 'lite.onnx');
  const r = python(['-m', 'models.fclip_unet.export', '--preset', 'fclip-unet-lite', '--out', onnx]);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const card = JSON.parse(readFileSync(path.join(dir, 'lite.card.json'), 'utf8'));
  assert.equal(card.output, 'residual');
  assert.equal(card.sizeMultiple, 16);
  assert.ok(card.parameters > 100_000 && card.gflop640x360.model > card.gflop640x360.encoder, JSON.stringify(card));
  const clip = path.join(dir, 'clip.mp4');
  // not a multiple of 16: the fused graph pads; even, since yuv420p output pads odd sizes
  makeClip(clip, { width: 98, height: 62, frames: 6 });
  const out = path.join(dir, 'out.mp4');
  const run = await derain(['run', clip, '-o', out, '--model', onnx, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.model, 'fclip-unet-lite', 'the card is read with the file');
  assert.equal(summary.framesOut, 6);
  assert.deepEqual(countFrames(out), { frames: 6, width: 98, height: 62 });
});
