// --model resolution: built-in, a folder with card.json, a bare ONNX file, fixed-size models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildBuiltinModel } from '../../src/infer/builtin-model.ts';
import { encodeModel, onnx } from '../../src/infer/onnx-proto.ts';
import { prepareModel } from '../../src/infer/prepare-model.ts';
import { resolveModel } from '../../src/infer/model-card.ts';
import { ModelError } from '../../src/infer/errors.ts';
import { derain, makeClip, tmpDir } from '../helpers.ts';

const dir = tmpDir();

function saveModel(folder: string, card?: object, mutate?: (m: ReturnType<typeof buildBuiltinModel>) => void): string {
  mkdirSync(folder, { recursive: true });
  const m = buildBuiltinModel({ seed: 5 });
  mutate?.(m);
  const file = path.join(folder, 'model.onnx');
  writeFileSync(file, encodeModel(m));
  if (card) writeFileSync(path.join(folder, 'card.json'), JSON.stringify(card));
  return file;
}

test('a folder with a card: its output kind, size multiple and inference size are used', () => {
  const folder = path.join(dir, 'carded');
  saveModel(folder, { name: 'my-export', output: 'residual', sizeMultiple: 8, inferSize: [320, 180] });
  const r = resolveModel(folder);
  assert.equal(r.card.name, 'my-export');
  assert.equal(r.card.sizeMultiple, 8);
  const p = prepareModel(folder, { width: 1280, height: 720 }, {});
  assert.deepEqual(p.infer, { width: 320, height: 180 }, 'the card scales a 720p frame to fit 320x180');
});

test('a bare ONNX file gets defaults: clean-image output, multiple 32, full resolution', () => {
  const file = saveModel(path.join(dir, 'bare'));
  const r = resolveModel(file);
  assert.equal(r.card.output, 'image');
  assert.equal(r.card.sizeMultiple, 32);
  assert.deepEqual(prepareModel(file, { width: 200, height: 100 }, {}).infer, { width: 200, height: 100 });
});

test('a model with a fixed input size runs at that size, and a conflicting --infer-size is refused', () => {
  const file = saveModel(path.join(dir, 'fixed'), undefined, (m) => {
    const dims = m.graph!.input![0].type!.tensorType!.shape!.dim!;
    dims[2] = new onnx.TensorShapeProto.Dimension({ dimValue: 64 });
    dims[3] = new onnx.TensorShapeProto.Dimension({ dimValue: 96 });
  });
  assert.deepEqual(prepareModel(file, { width: 320, height: 200 }, {}).infer, { width: 96, height: 64 });
  assert.throws(() => prepareModel(file, { width: 320, height: 200 }, { inferSize: { width: 128, height: 64 } }), /only takes 96x64 input/);
});

test('a model on an opset older than 11 is refused with its opset named', () => {
  const file = saveModel(path.join(dir, 'old'), undefined, (m) => {
    m.opsetImport = [new onnx.OperatorSetIdProto({ domain: '', version: 9 })];
  });
  assert.throws(
    () => prepareModel(file, { width: 64, height: 64 }, {}),
    (e: unknown) => e instanceof ModelError && /opset 9; opset 11 or newer/.test(e.message),
  );
});

test('a malformed card names the field', () => {
  const folder = path.join(dir, 'badcard');
  saveModel(folder, { name: 'x', output: 'clean' });
  assert.throws(() => resolveModel(folder), /"output" must be "image" or "residual"/);
});

test('a temporal card: frames must be 1..8, and the model must take 3 × frames channels', () => {
  const bad = path.join(dir, 'badframes');
  saveModel(bad, { name: 'x', output: 'residual', frames: 0 });
  assert.throws(() => resolveModel(bad), /"frames" must be a whole number from 1 to 8/);
  // the built-in network takes one RGB frame (3 channels): a card saying 5 frames is refused
  const mismatch = path.join(dir, 'mismatch');
  saveModel(mismatch, { name: 'five', output: 'residual', sizeMultiple: 4, frames: 5 });
  assert.throws(
    () => prepareModel(mismatch, { width: 64, height: 48 }, {}),
    (e: unknown) => e instanceof ModelError && /its input has 3 channels; a model of 5 RGB frames \(card "frames"\) takes 15/.test(e.message),
  );
  const single = path.join(dir, 'single');
  saveModel(single, { name: 'one', output: 'residual', sizeMultiple: 4 });
  assert.equal(prepareModel(single, { width: 64, height: 48 }, {}).past, null, 'a single-frame model has no past state');
});

test('derain run takes a user export one card away', async () => {
  const folder = path.join(dir, 'cli-model');
  saveModel(folder, { name: 'cli-export', output: 'residual', sizeMultiple: 4 });
  const clip = path.join(dir, 'c.mp4');
  makeClip(clip, { width: 96, height: 64, frames: 5 });
  const r = await derain(['run', clip, '--model', folder, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.model, 'cli-export');
  assert.equal(s.framesOut, 5);
  assert.equal(s.output, null);
});
