// Cross-camera batching: streams that share a session have their frames derained in one run
// when they wait together, a stream alone is never held back for a batch, turns stay fair, and
// /api/streams shows the session's batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe } from '../../src/serve/serve.ts';
import { SessionPool, batchFor, type Lane } from '../../src/serve/session-pool.ts';
import type { Frame } from '../../src/frame.ts';
import { getJson, waitFor } from './live-helpers.ts';

const W = 64;
const H = 48;
const spec = { model: 'builtin-tiny', width: W, height: H, ep: 'cpu' as const };

function flat(value: number, seq: number): Frame {
  return { data: Buffer.alloc(W * H * 3, value), width: W, height: H, seq, pts: seq / 25, capturedAt: Date.now() };
}

/** A stream that always has a frame: asks for a turn, hands a frame over, asks again at once. */
async function greedy(lane: Lane, value: number, frames: number, got: number[][]): Promise<void> {
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < frames; i++) {
    if (!(await lane.turn())) break;
    jobs.push(lane.infer(flat(value, i)).then((d) => got.push([value, d.frame.data[0], d.batch])));
  }
  await Promise.all(jobs);
}

test('streams waiting together run in one batch, each with its own state; turns stay fair', async () => {
  const pool = new SessionPool(undefined, undefined, 2);
  const a = await pool.acquire(spec, 0.6);
  const b = await pool.acquire(spec, 0.6);
  const c = await pool.acquire(spec, 0.6);
  try {
    assert.equal(pool.size, 1);
    const got: number[][] = [];
    await Promise.all([greedy(a, 60, 12, got), greedy(b, 120, 12, got), greedy(c, 180, 12, got)]);
    const status = a.inference().batch!;
    assert.equal(status.max, 2);
    assert.equal(status.last <= 2, true);
    assert.ok(status.mean > 1.5, `three busy streams fill batches of two (mean ${status.mean})`);
    assert.equal(status.runs, Math.ceil(36 / 2));
    // each stream's frames come back as its own (flat frames of a model that removes almost nothing)
    for (const [value, out] of got) assert.ok(Math.abs(out - value) <= 2, `${value} came back as ${out}`);
    // fair: at every point, no stream is more than a batch ahead of another
    const seen = new Map<number, number>();
    got.forEach(([value], i) => {
      seen.set(value, (seen.get(value) ?? 0) + 1);
      if (i % 6 === 5) assert.ok(Math.max(...seen.values()) - Math.min(...seen.values()) <= 1, `turns go round: ${JSON.stringify([...seen])}`);
    });
  } finally {
    a.release();
    b.release();
    c.release();
    await pool.close();
  }
});

test('a stream alone runs batches of one and never waits for a batch to fill', async () => {
  const pool = new SessionPool(undefined, undefined, 4);
  const a = await pool.acquire(spec, 0.6);
  try {
    const got: number[][] = [];
    const t0 = performance.now();
    await greedy(a, 100, 10, got);
    const ms = performance.now() - t0;
    assert.deepEqual(
      got.map((g) => g[2]),
      Array(10).fill(1),
    );
    assert.deepEqual(a.inference().batch, { max: 4, last: 1, mean: 1, runs: 10, note: null });
    assert.ok(ms < 5000, `10 frames of a tiny model in ${ms.toFixed(0)} ms`);
  } finally {
    a.release();
    await pool.close();
  }
});

test('batch: 1 keeps the one-frame graph; a per-model setting picks by model name', async () => {
  assert.equal(batchFor({ 'builtin-tiny': 3, default: 1 }, 'builtin-tiny'), 3);
  assert.equal(batchFor({ 'builtin-tiny': 3, default: 1 }, 'other'), 1);
  assert.equal(batchFor({ 'builtin-tiny': 3 }, 'other'), 'auto');
  const pool = new SessionPool(undefined, undefined, 1);
  const a = await pool.acquire(spec, 0.6);
  const b = await pool.acquire(spec, 0.6);
  try {
    const got: number[][] = [];
    await Promise.all([greedy(a, 60, 4, got), greedy(b, 120, 4, got)]);
    assert.deepEqual(a.inference().batch, { max: 1, last: 1, mean: 1, runs: 8, note: null });
  } finally {
    a.release();
    b.release();
    await pool.close();
  }
});

test('serve: two cameras share one batched session, and /api/streams shows batches of two', async () => {
  // The default CPU model at 640x360 takes longer than a 25 fps frame interval, so both
  // streams always have a frame waiting when the session frees up. (batch: auto runs one frame
  // at a time on a CPU, where a batch does not pay: README)
  const config = resolveConfig(
    {
      batch: 2,
      server: { port: 0 },
      rtsp: { enabled: false },
      defaults: { model: 'fclip-unet-lite2', ep: 'cpu' },
      streams: [
        { id: 'one', url: 'demo://rain?size=640x360&fps=25' },
        { id: 'two', url: 'demo://rain?size=640x360&fps=25', smooth: 0.9 },
      ],
    },
    'test',
    process.cwd(),
  );
  const logs: string[] = [];
  const svc = await startServe(config, { log: (m) => logs.push(m) });
  try {
    const streams = await waitFor(
      'batches of two',
      async () => {
        const { body } = await getJson(`${svc.httpUrl}/api/streams`);
        const s = body.streams as { inference: { pid: number; batch: { max: number; last: number; mean: number; runs: number } } | null; framesProcessed: number }[];
        return s.every((x) => x.inference?.batch && x.inference.batch.runs >= 6 && x.inference.batch.last === 2 && x.framesProcessed > 0) && s;
      },
      45_000,
      250,
    );
    assert.equal(svc.manager.pool.size, 1, 'one session for both');
    const [one, two] = streams;
    assert.equal(one.inference!.pid, two.inference!.pid, 'one inference process');
    assert.equal(one.inference!.batch.max, 2, 'batches of up to 2');
    assert.ok(one.inference!.batch.mean > 1, `batches of more than one frame (mean ${one.inference!.batch.mean})`);
    assert.ok(
      logs.some((l) => /session fclip-unet-lite2 640x360 on cpu: inference process \d+, batches of up to 2 frames/.test(l)),
      logs.join('\n'),
    );
  } finally {
    await svc.close();
  }
});

test('the config: batch is auto by default, a number from 1 to 64, or one per model; anything else is named', () => {
  const load = (batch: unknown) => resolveConfig({ ...(batch === undefined ? {} : { batch }), streams: [{ id: 'a', url: 'demo://rain' }] }, 'c.yaml', process.cwd()).batch;
  assert.equal(load(undefined), 'auto');
  assert.equal(load(4), 4);
  assert.equal(load('4'), 4);
  assert.deepEqual(load({ 'fclip-unet-lite2': 4, default: 'auto' }), { 'fclip-unet-lite2': 4, default: 'auto' });
  assert.throws(() => load(0), /^UserError: c\.yaml: batch: must be "auto" or a whole number from 1 to 64$/);
  assert.throws(() => load(65), /batch: must be "auto" or a whole number from 1 to 64/);
  assert.throws(() => load('many'), /batch: must be "auto" or a whole number from 1 to 64, or a map of model names to such values/);
  assert.throws(() => load({ 'fclip-unet-lite2': 0 }), /batch\.fclip-unet-lite2: must be "auto" or a whole number from 1 to 64/);
});
