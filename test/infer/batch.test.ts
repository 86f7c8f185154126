// Batches of frames from several lanes (the service's shared sessions): a batch derains each
// frame as that lane's own one-frame run would, with that lane's smoothing state and past
// frames, through the real inference process; batch sizes may change from run to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBuiltinModel, seededRandom } from '../../src/infer/builtin-model.ts';
import { Derainer, type Derained } from '../../src/infer/derainer.ts';
import { buildFusedBytes, pastShape, type FusedSpec } from '../../src/infer/fused-graph.ts';
import { DataType, GraphBuilder } from '../../src/infer/graph-builder.ts';
import { decodeModel, encodeModel } from '../../src/infer/onnx-proto.ts';
import { prepareModel } from '../../src/infer/prepare-model.ts';
import type { Frame } from '../../src/frame.ts';

const W = 64;
const H = 48;

/** A textured frame that moves a little each step, different per lane, with fresh bright streaks. */
function frame(lane: number, t: number, w = W, h = H): Frame {
  const rand = seededRandom(1000 * lane + t);
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = (40 * lane + 3 * x + 2 * y + 5 * c + t) % 200;
  for (let s = 0; s < 30; s++) {
    const i = Math.floor(rand() * w * h) * 3;
    data[i] = data[i + 1] = data[i + 2] = 250;
  }
  return { data, width: w, height: h, seq: t, pts: t / 25, capturedAt: Date.now() };
}

/** Which lanes have a frame at each step: batches of 2 and 3, a lane alone, a lane that starts late. */
const SCHEDULE = [[1, 2], [1, 2], [1], [2, 1], [1, 2, 3], [3], [1, 2, 3]];

function maxDiff(a: Buffer, b: Buffer): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs SCHEDULE through a one-frame derainer lane by lane and through a batched one, and returns the largest difference of any output byte. */
async function compare(single: Derainer, batched: Derainer, w = W, h = H): Promise<number> {
  let worst = 0;
  const batches: number[] = [];
  for (let t = 0; t < SCHEDULE.length; t++) {
    const lanes = SCHEDULE[t];
    const alone: Derained[] = [];
    for (const lane of lanes) alone.push(await single.infer(frame(lane, t, w, h), { lane, smooth: 0.3 * lane }));
    const together = await Promise.all(batched.inferBatch(lanes.map((lane) => ({ frame: frame(lane, t, w, h), lane, smooth: 0.3 * lane }))));
    batches.push(...together.map((d) => d.batch));
    together.forEach((d, i) => {
      assert.equal(d.frame.seq, t);
      worst = Math.max(worst, maxDiff(d.frame.data, alone[i].frame.data));
    });
    if (t === 3) {
      // a reset in the middle: that lane starts again from its frame, in both
      single.reset(2);
      batched.reset(2);
    }
  }
  assert.deepEqual(
    batches,
    SCHEDULE.flatMap((l) => l.map(() => l.length)),
    'each frame ran in a batch of the frames given together',
  );
  return worst;
}

test('a batch gives each lane what its own one-frame runs give (smoothing state per lane, reset, changing batch sizes)', async () => {
  // Run at a reduced size, so the resizes and the blur run per frame of the batch too.
  const spec: FusedSpec = { width: W, height: H, inferWidth: 40, inferHeight: 30, multiple: 4, output: 'residual' };
  const base = () => buildBuiltinModel({ seed: 5, residualScale: 0.3 });
  const single = await Derainer.open({ model: buildFusedBytes(base(), spec), width: W, height: H, ep: 'cpu', smooth: 0.6 });
  const batched = await Derainer.open({ model: buildFusedBytes(base(), { ...spec, batch: 'dynamic' }), width: W, height: H, ep: 'cpu', smooth: 0.6, batch: 3 });
  try {
    assert.equal(batched.maxBatch, 3);
    assert.equal(single.maxBatch, 1);
    assert.ok((await compare(single, batched)) <= 1, 'within 1 LSB');
  } finally {
    await Promise.all([single.close(), batched.close()]);
  }
});

test('batches whose frames go through the pipe (no shared-memory slots) give the same', async () => {
  const spec: FusedSpec = { width: W, height: H, inferWidth: 40, inferHeight: 30, multiple: 4, output: 'residual' };
  const base = () => buildBuiltinModel({ seed: 5, residualScale: 0.3 });
  const single = await Derainer.open({ model: buildFusedBytes(base(), spec), width: W, height: H, ep: 'cpu', smooth: 0.6, frameSlots: false });
  const batched = await Derainer.open({ model: buildFusedBytes(base(), { ...spec, batch: 'dynamic' }), width: W, height: H, ep: 'cpu', smooth: 0.6, batch: 3, frameSlots: false });
  try {
    assert.ok((await compare(single, batched)) <= 1, 'within 1 LSB');
  } finally {
    await Promise.all([single.close(), batched.close()]);
  }
});

/** A temporal "model" of 3 frames: residual = a mix of the current frame and its past ones, so a wrong past shows. */
function pastMixModel() {
  const b = new GraphBuilder('mix');
  const x = b.input('input', DataType.FLOAT, [1, 9, 'height', 'width']);
  const slice = (from: number) => b.op('Slice', [x, b.i64([from]), b.i64([from + 3]), b.i64([1])]);
  const r = b.op('Mul', [b.op('Sub', [b.op('Mul', [slice(0), b.f32([2], [])]), b.op('Add', [slice(3), slice(6)])]), b.f32([0.25], [])]);
  b.rename(r, 'residual');
  b.output('residual', DataType.FLOAT, [1, 3, 'height', 'width']);
  return decodeModel(encodeModel(b.toModel(13)));
}

test('a temporal model in a batch keeps each lane its own past frames', async () => {
  const spec: FusedSpec = { width: W, height: H, inferWidth: W, inferHeight: H, multiple: 4, output: 'residual', frames: 3 };
  const past = pastShape(spec);
  const single = await Derainer.open({ model: buildFusedBytes(pastMixModel(), spec), width: W, height: H, ep: 'cpu', smooth: 0.6, past });
  const batched = await Derainer.open({ model: buildFusedBytes(pastMixModel(), { ...spec, batch: 'dynamic' }), width: W, height: H, ep: 'cpu', smooth: 0.6, past, batch: 3 });
  try {
    assert.ok((await compare(single, batched)) <= 1, 'within 1 LSB');
  } finally {
    await Promise.all([single.close(), batched.close()]);
  }
});

test('the default CPU model in a batch of 2 gives what two single runs give', async () => {
  const w = 128;
  const h = 96;
  const single = prepareModel('fclip-unet-lite2', { width: w, height: h }, {});
  const batchedModel = prepareModel('fclip-unet-lite2', { width: w, height: h }, {}, 'dynamic');
  const one = await Derainer.open({ model: single.fused, width: w, height: h, ep: 'cpu', smooth: 0.6 });
  const two = await Derainer.open({ model: batchedModel.fused, width: w, height: h, ep: 'cpu', smooth: 0.6, batch: 2 });
  try {
    let worst = 0;
    for (let t = 0; t < 3; t++) {
      const alone = [await one.infer(frame(1, t, w, h), { lane: 1 }), await one.infer(frame(2, t, w, h), { lane: 2 })];
      const together = await Promise.all(two.inferBatch([1, 2].map((lane) => ({ frame: frame(lane, t, w, h), lane }))));
      together.forEach((d, i) => (worst = Math.max(worst, maxDiff(d.frame.data, alone[i].frame.data))));
    }
    assert.ok(worst <= 1, `within 1 LSB (${worst})`);
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
});

test('a model that fixes batch 1 inside runs its frames one at a time and says why', async () => {
  // Declares a dynamic batch, then reshapes to batch 1: a batch of 2 cannot run.
  const b = new GraphBuilder('fixed');
  const x = b.input('input', DataType.FLOAT, [1, 3, 'height', 'width']);
  const r = b.op('Mul', [b.op('Reshape', [x, b.i64([1, 3, H, W])]), b.f32([0], [])]);
  b.rename(r, 'residual');
  b.output('residual', DataType.FLOAT, [1, 3, 'height', 'width']);
  const spec: FusedSpec = { width: W, height: H, inferWidth: W, inferHeight: H, multiple: 4, output: 'residual', batch: 'dynamic' };
  const d = await Derainer.open({ model: buildFusedBytes(decodeModel(encodeModel(b.toModel(13))), spec), width: W, height: H, ep: 'cpu', smooth: 0, batch: 2 });
  try {
    assert.equal(d.maxBatch, 1);
    assert.match(d.batchNote ?? '', /batches refused, frames run one at a time/);
    const out = await Promise.all(d.inferBatch([1, 2].map((lane) => ({ frame: frame(lane, 0), lane }))));
    // (the model removes nothing: each lane gets its own frame back)
    assert.ok(maxDiff(out[0].frame.data, frame(1, 0).data) <= 1 && maxDiff(out[1].frame.data, frame(2, 0).data) <= 1);
  } finally {
    await d.close();
  }
});
