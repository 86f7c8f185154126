// One session per model and size, shared by streams: each stream keeps its own smoothing
// state, turns are shared fairly, and sessions are shared only when model and size match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBuiltinModel } from '../../src/infer/builtin-model.ts';
import { Derainer } from '../../src/infer/derainer.ts';
import { buildFusedBytes } from '../../src/infer/fused-graph.ts';
import { SessionPool } from '../../src/serve/session-pool.ts';
import type { Frame } from '../../src/frame.ts';

const W = 64;
const H = 48;

function flat(value: number, seq: number): Frame {
  return { data: Buffer.alloc(W * H * 3, value), width: W, height: H, seq, pts: seq / 25, capturedAt: Date.now() };
}

const mean = (b: Buffer) => b.reduce((s, v) => s + v, 0) / b.length;

test('streams sharing a session keep their own smoothing state (lanes)', async () => {
  // A model that removes nothing: the output is the smoothing alone.
  const model = buildFusedBytes(buildBuiltinModel({ residualScale: 0 }), { width: W, height: H, inferWidth: W, inferHeight: H, multiple: 4, output: 'residual' });
  const d = await Derainer.open({ model, width: W, height: H, ep: 'cpu', smooth: 0.6 });
  try {
    // Two static scenes close enough in value to be smoothed together if they shared a state.
    const lane1: number[] = [];
    const lane2: number[] = [];
    const shared: number[] = [];
    for (let t = 0; t < 8; t++) {
      lane1.push(mean((await d.infer(flat(100, t), { lane: 1 })).frame.data));
      lane2.push(mean((await d.infer(flat(106, t), { lane: 2 })).frame.data));
    }
    for (let t = 0; t < 8; t++) shared.push(mean((await d.infer(flat(t % 2 ? 106 : 100, t), { lane: 3 })).frame.data));
    assert.ok(
      lane1.every((v) => Math.abs(v - 100) < 0.5),
      `lane 1 stays its own scene: ${lane1}`,
    );
    assert.ok(
      lane2.every((v) => Math.abs(v - 106) < 0.5),
      `lane 2 stays its own scene: ${lane2}`,
    );
    // The control: the same frames through one lane do blend (so the check above can fail).
    assert.ok(
      shared.slice(2).some((v) => v > 101 && v < 105),
      `one lane blends the two: ${shared}`,
    );

    // reset(): the lane's next frame starts from itself.
    d.reset(3);
    assert.ok(Math.abs(mean((await d.infer(flat(106, 9), { lane: 3 })).frame.data) - 106) < 0.5);
  } finally {
    await d.close();
  }
});

test('turns alternate between streams: a stream that always has a frame cannot starve another', async () => {
  const pool = new SessionPool();
  const spec = { model: 'builtin-tiny', width: W, height: H, ep: 'cpu' as const };
  const a = await pool.acquire(spec, 0.6);
  const b = await pool.acquire(spec, 0.6);
  assert.equal(pool.size, 1, 'same model and size: one session');
  const order: string[] = [];
  const greedy = async (lane: typeof a, name: string, frames: number) => {
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < frames; i++) {
      if (!(await lane.turn())) break;
      jobs.push(lane.infer(flat(100, i)).then(() => order.push(name)));
    }
    await Promise.all(jobs);
  };
  await Promise.all([greedy(a, 'a', 20), greedy(b, 'b', 20)]);
  const firstHalf = order.slice(0, 20);
  const as = firstHalf.filter((x) => x === 'a').length;
  assert.ok(Math.abs(as - 10) <= 1, `both streams got turns in the same measure: ${order.join('')}`);

  const c = await pool.acquire({ ...spec, width: 32, height: 24 }, 0.6);
  assert.equal(pool.size, 2, 'another size: another session');
  a.release();
  b.release();
  assert.equal(pool.size, 1, 'a session closes with its last stream');
  c.release();
  assert.equal(pool.size, 0);
  await pool.close();
});

test('a stream released while it waits for a turn stops waiting', async () => {
  // (one frame a run: with batches, b would join a's batch instead of waiting)
  const pool = new SessionPool(undefined, undefined, 1);
  const spec = { model: 'builtin-tiny', width: W, height: H, ep: 'cpu' as const };
  const a = await pool.acquire(spec, 0);
  const b = await pool.acquire(spec, 0);
  assert.equal(await a.turn(), true);
  const waiting = b.turn();
  b.release();
  assert.equal(await waiting, false);
  await a.infer(flat(1, 0));
  a.release();
  await pool.close();
});
