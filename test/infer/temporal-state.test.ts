// A temporal model's past frames in the fused graph, through the real worker: the order the
// model sees them in, the restart on a lane's first frame, on reset() and on a scene cut, and
// lanes that keep their own past.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Derainer } from '../../src/infer/derainer.ts';
import { buildFusedBytes, pastShape, type FusedSpec } from '../../src/infer/fused-graph.ts';
import { DataType, GraphBuilder } from '../../src/infer/graph-builder.ts';
import { decodeModel, encodeModel } from '../../src/infer/onnx-proto.ts';
import type { Frame } from '../../src/frame.ts';

const W = 32;
const H = 24;
const FRAMES = 3;

/** A "model" of FRAMES stacked frames whose clean image is the oldest past frame (t-2): residual = current − input[t-2]. */
function oldestPastModel() {
  const b = new GraphBuilder('oldest');
  const x = b.input('input', DataType.FLOAT, [1, 3 * FRAMES, 'height', 'width']);
  const slice = (from: number) => b.op('Slice', [x, b.i64([from]), b.i64([from + 3]), b.i64([1])]);
  const r = b.op('Sub', [slice(0), slice(3 * (FRAMES - 1))]);
  b.rename(r, 'residual');
  b.output('residual', DataType.FLOAT, [1, 3, 'height', 'width']);
  return decodeModel(encodeModel(b.toModel(13)));
}

const spec: FusedSpec = { width: W, height: H, inferWidth: W, inferHeight: H, multiple: 4, output: 'residual', frames: FRAMES };

async function open(): Promise<Derainer> {
  return Derainer.open({ model: buildFusedBytes(oldestPastModel(), spec), width: W, height: H, ep: 'cpu', smooth: 0, past: pastShape(spec) });
}

/** A flat gray frame of value v, with a small pattern so frames differ a little (no scene cut). */
function frame(v: number, seq: number): Frame {
  const data = Buffer.alloc(W * H * 3, v);
  return { data, width: W, height: H, seq, pts: seq / 25, capturedAt: Date.now() };
}

const value = async (d: Derainer, f: Frame, lane = 0) => (await d.infer(f, { lane })).frame.data[0];

test('pastShape: [1, 3 (frames − 1), padded h, padded w]; none for a single-frame model', () => {
  assert.deepEqual(pastShape({ ...spec, inferWidth: 30, inferHeight: 22 }), [1, 6, 24, 32]);
  assert.equal(pastShape({ ...spec, frames: 1 }), null);
  assert.equal(pastShape({ ...spec, frames: undefined }), null);
});

test('the model sees the current frame, then t-1, t-2; the past starts as the first frame', async () => {
  const d = await open();
  try {
    // small steps (mean change 0.02 < CUT_LOW): no cut, the past keeps going
    const outs = [];
    for (let i = 0; i < 5; i++) outs.push(await value(d, frame(100 + 5 * i, i)));
    // frame 0: past = itself; frame 1: t-2 is still frame 0 (restarted from it); then t-2 proper
    assert.deepEqual(outs, [100, 100, 100, 105, 110]);
  } finally {
    await d.close();
  }
});

test('reset() and a scene cut restart the past from the current frame; lanes keep their own', async () => {
  const d = await open();
  try {
    for (let i = 0; i < 3; i++) await value(d, frame(100 + 5 * i, i));
    await value(d, frame(50, 0), 1); // another lane starts from its own frame
    d.reset();
    assert.equal(await value(d, frame(120, 3)), 120, 'after reset() the past is the frame itself');
    assert.equal(await value(d, frame(125, 4)), 120);
    // a jump of 100/255 in every pixel (past CUT_HIGH): a cut, the past restarts
    assert.equal(await value(d, frame(225, 5)), 225);
    assert.equal(await value(d, frame(55, 1), 1), 50, 'lane 1 still has its own past');
  } finally {
    await d.close();
  }
});
