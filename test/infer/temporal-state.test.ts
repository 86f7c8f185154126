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

/** A textured frame (all channels alike) whose content has moved `dx` pixels right: base(x − dx, y). */
function panned(dx: number, seq: number): Frame {
  const data = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) data.fill(base(x - dx, y), (y * W + x) * 3, (y * W + x + 1) * 3);
  }
  return { data, width: W, height: H, seq, pts: seq / 25, capturedAt: Date.now() };
}
const base = (x: number, y: number) => Math.round(110 + 50 * Math.sin(x / 3) + 40 * Math.cos(y / 2.5));

/** Column x of a frame's first channel. */
const column = (data: Buffer, x: number) => Array.from({ length: H }, (_, y) => data[(y * W + x) * 3]);

test('a pan moves the past with the camera: no ghost, no cut, the edge it uncovers repeated', async () => {
  const single = await open();
  const batched = await Derainer.open({ model: buildFusedBytes(oldestPastModel(), { ...spec, batch: 'dynamic' }), width: W, height: H, ep: 'cpu', smooth: 0, past: pastShape(spec), batch: 2 });
  try {
    let out: Buffer | undefined;
    let lanes: Buffer[] = [];
    for (let t = 0; t < 3; t++) {
      out = (await single.infer(panned(2 * t, t))).frame.data;
      // a batch: lane 1 pans, lane 2 stays still, each its own shift
      const together = await Promise.all(batched.inferBatch([panned(2 * t, t), panned(0, t)].map((frame, i) => ({ frame, lane: i + 1 }))));
      lanes = together.map((d) => d.frame.data);
    }
    // frame 2's output is frame 0 moved 4 px right: the interior is frame 2 itself ...
    const current = panned(4, 2).data;
    for (const [name, got] of [
      ['single', out!],
      ['batched', lanes[0]],
    ] as const) {
      for (let x = 4; x < W; x++) {
        const diff = Math.max(...column(got, x).map((v, y) => Math.abs(v - column(current, x)[y])));
        assert.ok(diff <= 1, `${name}: column ${x} is frame 2's (off by ${diff}), not frame 0's`);
      }
      // ... and the 4 columns the pan uncovered repeat frame 0's edge (a cut would give frame 2's own)
      const edge = Array.from({ length: H }, (_, y) => base(0, y));
      for (let x = 0; x < 4; x++) {
        assert.ok(
          column(got, x).every((v, y) => Math.abs(v - edge[y]) <= 1),
          `${name}: column ${x} repeats the past's edge`,
        );
      }
    }
    assert.deepEqual(lanes[1], panned(0, 2).data, 'the still lane is not moved');
  } finally {
    await Promise.all([single.close(), batched.close()]);
  }
});

/** A temporal "model" that returns the current frame (residual 0), so only the smoothing acts. */
function currentModel() {
  const b = new GraphBuilder('current');
  const x = b.input('input', DataType.FLOAT, [1, 3 * FRAMES, 'height', 'width']);
  const cur = b.op('Slice', [x, b.i64([0]), b.i64([3]), b.i64([1])]);
  const r = b.op('Sub', [cur, cur]);
  b.rename(r, 'residual');
  b.output('residual', DataType.FLOAT, [1, 3, 'height', 'width']);
  return decodeModel(encodeModel(b.toModel(13)));
}

test('a pan moves the smoothing state too: a small change is smoothed along the scene, not passed as motion', async () => {
  const d = await Derainer.open({ model: buildFusedBytes(currentModel(), spec), width: W, height: H, ep: 'cpu', smooth: 0.6, past: pastShape(spec) });
  try {
    await d.infer(panned(0, 0));
    // the camera pans 2 px and the scene brightens by 10 (under MOTION_LOW): smoothed towards
    // the moved state (B + 0.4 × 10 or so), where an unmoved state sees motion and passes the frame
    const next = panned(2, 1);
    for (let i = 0; i < next.data.length; i++) next.data[i] += 10;
    const out = (await d.infer(next)).frame.data;
    for (let x = 5; x < W; x++) {
      const frame = column(next.data, x);
      const below = column(out, x).reduce((sum, v, y) => sum + frame[y] - v, 0) / H;
      assert.ok(below >= 3 && below <= 10, `column ${x}: ${below.toFixed(1)} below the frame on average, not smoothed from the moved state`);
    }
  } finally {
    await d.close();
  }
});
