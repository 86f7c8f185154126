// The derainer and its inference process: smoothing behaviour, a free event loop, execution-provider
// choice, a process that dies, the frame deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBuiltinModel, seededRandom } from '../../src/infer/builtin-model.ts';
import { Derainer } from '../../src/infer/derainer.ts';
import { EpUnavailableError } from '../../src/infer/errors.ts';
import { FIRST_FRAME_DEADLINE_MS, frameDeadlineMs } from '../../src/infer/deadline.ts';
import { buildFusedBytes } from '../../src/infer/fused-graph.ts';
import type { Frame } from '../../src/frame.ts';

const W = 64;
const H = 48;

function frameOf(data: Uint8Array, seq: number, width = W, height = H): Frame {
  return { data: Buffer.from(data), width, height, seq, pts: seq / 25, capturedAt: Date.now() };
}

/** A model that returns no residual, so the output is the smoothing alone. */
async function identityDerainer(smooth: number): Promise<Derainer> {
  const model = buildFusedBytes(buildBuiltinModel({ residualScale: 0 }), { width: W, height: H, inferWidth: W, inferHeight: H, multiple: 4, output: 'residual' });
  return Derainer.open({ model, width: W, height: H, ep: 'cpu', smooth });
}

function background(): Uint8Array {
  const bg = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) bg[(y * W + x) * 3 + c] = 60 + x + y;
  return bg;
}

/** Fresh faint streaks every frame: the flicker a per-frame model leaves behind. */
function withStreaks(bg: Uint8Array, rand: () => number): Uint8Array {
  const f = bg.slice();
  for (let s = 0; s < 40; s++) {
    const x = Math.floor(rand() * W);
    const y0 = Math.floor(rand() * (H - 8));
    for (let y = y0; y < y0 + 8; y++) for (let c = 0; c < 3; c++) f[(y * W + x) * 3 + c] += 10;
  }
  return f;
}

async function flicker(smooth: number): Promise<number> {
  const d = await identityDerainer(smooth);
  const rand = seededRandom(3);
  const bg = background();
  let prev: Buffer | null = null;
  let total = 0;
  for (let t = 0; t < 20; t++) {
    const { frame } = await d.infer(frameOf(withStreaks(bg, rand), t));
    if (prev && t >= 5) for (let i = 0; i < frame.data.length; i++) total += Math.abs(frame.data[i] - prev[i]);
    prev = frame.data;
  }
  await d.close();
  return total / (15 * W * H * 3);
}

test('smoothing lowers frame-to-frame variation of a static scene with fresh streaks', async () => {
  const off = await flicker(0);
  const on = await flicker(0.6);
  assert.ok(off > 0.5, `the streaks do flicker without smoothing (${off.toFixed(3)})`);
  assert.ok(on < off * 0.6, `smoothing: ${on.toFixed(3)} vs off: ${off.toFixed(3)}`);
});

test('a moving square leaves no ghost behind it', async () => {
  const d = await identityDerainer(0.8);
  const bg = background();
  const square = (t: number) => ({ x0: 4 + 3 * t, y0: 18 });
  let last: Buffer | null = null;
  for (let t = 0; t < 12; t++) {
    const f = bg.slice();
    const { x0, y0 } = square(t);
    for (let y = y0; y < y0 + 10; y++) for (let x = x0; x < x0 + 10; x++) for (let c = 0; c < 3; c++) f[(y * W + x) * 3 + c] = 240;
    last = (await d.infer(frameOf(f, t))).frame.data;
  }
  await d.close();
  const now = square(11);
  const before = square(10);
  let ghost = 0;
  let body = 0;
  for (let y = now.y0; y < now.y0 + 10; y++) {
    for (let x = before.x0; x < now.x0; x++) for (let c = 0; c < 3; c++) ghost = Math.max(ghost, Math.abs(last![(y * W + x) * 3 + c] - bg[(y * W + x) * 3 + c]));
    for (let x = now.x0; x < now.x0 + 10; x++) for (let c = 0; c < 3; c++) body = Math.max(body, Math.abs(last![(y * W + x) * 3 + c] - 240));
  }
  assert.ok(ghost <= 3, `where the square was a frame ago the background is back (max difference ${ghost})`);
  assert.ok(body <= 3, `the square is at full strength where it is now (max difference ${body})`);
});

test('the event loop keeps serving timers while a frame is inferred', async () => {
  const w = 640;
  const h = 360;
  const model = buildFusedBytes(buildBuiltinModel({ width: 32, depth: 6 }), { width: w, height: h, inferWidth: w, inferHeight: h, multiple: 4, output: 'residual' });
  const d = await Derainer.open({ model, width: w, height: h, ep: 'cpu', smooth: 0.5 });
  const frame = frameOf(new Uint8Array(w * h * 3).fill(100), 0, w, h);
  await d.infer(frame); // warm-up
  let ticks = 0;
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 5);
  const t0 = performance.now();
  const results = await Promise.all([d.infer({ ...frame, seq: 1 }), d.infer({ ...frame, seq: 2 })]);
  const elapsed = performance.now() - t0;
  clearInterval(timer);
  await d.close();
  const inferMs = results[0].inferenceMs + results[1].inferenceMs;
  assert.ok(inferMs > 60, `the test model is heavy enough to matter (${inferMs.toFixed(0)} ms)`);
  assert.ok(ticks >= elapsed / 5 / 3, `${ticks} timer ticks in ${elapsed.toFixed(0)} ms`);
  assert.ok(maxGap < Math.max(50, inferMs / 4), `longest event-loop stall ${maxGap.toFixed(1)} ms during ${inferMs.toFixed(0)} ms of inference`);
});

test('an execution provider that is not installed is a clear error, not a silent CPU run', async () => {
  const model = buildFusedBytes(buildBuiltinModel(), { width: W, height: H, inferWidth: W, inferHeight: H, multiple: 4, output: 'residual' });
  await assert.rejects(Derainer.open({ model, width: W, height: H, ep: 'cuda', smooth: 0 }), (err: unknown) => {
    assert.ok(err instanceof EpUnavailableError);
    assert.match((err as Error).message, /cuda/);
    return true;
  });
});

test('auto falls back to cpu here and says what it passed over', async () => {
  const model = buildFusedBytes(buildBuiltinModel(), { width: W, height: H, inferWidth: W, inferHeight: H, multiple: 4, output: 'residual' });
  const d = await Derainer.open({ model, width: W, height: H, ep: 'auto', smooth: 0 });
  await d.close();
  assert.equal(d.ep, 'cpu');
  assert.ok(d.skippedEps.some((s) => s.startsWith('tensorrt')) && d.skippedEps.some((s) => s.startsWith('cuda')), d.skippedEps.join('; '));
});

test('an inference process killed in the middle of a run fails the frames in flight with the reason; close() still returns', async () => {
  const [w, h] = [640, 360];
  const model = buildFusedBytes(buildBuiltinModel({ width: 32, depth: 6 }), { width: w, height: h, inferWidth: w, inferHeight: h, multiple: 4, output: 'residual' });
  const d = await Derainer.open({ model, width: w, height: h, ep: 'cpu', smooth: 0 });
  const deaths: string[] = [];
  d.onDeath((err) => deaths.push(err.message));
  await d.infer(frameOf(new Uint8Array(w * h * 3), 0, w, h));
  // (a worker thread could not be stopped like this: its process is the caller's)
  const pending = [1, 2].map((seq) => d.infer(frameOf(new Uint8Array(w * h * 3), seq, w, h)));
  process.kill(d.pid!, 'SIGKILL');
  const died = new RegExp(`inference process ${d.pid} died \\(signal SIGKILL\\)`);
  for (const p of pending) await assert.rejects(p, died);
  await assert.rejects(d.infer(frameOf(new Uint8Array(w * h * 3), 3, w, h)), died);
  assert.equal(d.alive, false);
  assert.deepEqual(deaths.length, 1);
  const closed = await Promise.race([d.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 5000))]);
  assert.equal(closed, 'closed');
});

test('the frame deadline: 20 times the p95 of the measured inference times, at least 10 s; long for a first frame', () => {
  assert.equal(frameDeadlineMs([]), FIRST_FRAME_DEADLINE_MS);
  assert.equal(frameDeadlineMs([5, 6, 7], true), FIRST_FRAME_DEADLINE_MS);
  assert.equal(frameDeadlineMs([5, 6, 7]), 10_000);
  const slow = Array.from({ length: 100 }, (_, i) => (i < 95 ? 800 : 3000));
  assert.equal(frameDeadlineMs(slow), 16_000);
});

test('close() lets the frames already handed over finish, however long they take', async () => {
  const [w, h] = [640, 360];
  const model = buildFusedBytes(buildBuiltinModel({ width: 32, depth: 6 }), { width: w, height: h, inferWidth: w, inferHeight: h, multiple: 4, output: 'residual' });
  const d = await Derainer.open({ model, width: w, height: h, ep: 'cpu', threads: 1, smooth: 0 });
  const { inferenceMs } = await d.infer(frameOf(new Uint8Array(w * h * 3).fill(90), 0, w, h));
  // More queued work than close()'s 2 s grace for a process that will not exit: the frames
  // handed over are the caller's, however long they take.
  const n = Math.min(120, Math.max(4, Math.ceil(3000 / inferenceMs)));
  const runs = Array.from({ length: n }, (_, i) => d.infer(frameOf(new Uint8Array(w * h * 3).fill(90), i + 1, w, h)));
  const t0 = performance.now();
  await d.close();
  const closeMs = performance.now() - t0;
  const results = await Promise.allSettled(runs);
  assert.deepEqual(
    results.map((r) => r.status),
    results.map(() => 'fulfilled'),
    'every frame handed over came back',
  );
  assert.ok(n * inferenceMs > 2000 || closeMs > 2000, `the queue outlasted the grace period (${n} x ${inferenceMs.toFixed(0)} ms, close took ${closeMs.toFixed(0)} ms)`);
  await assert.rejects(d.infer(frameOf(new Uint8Array(w * h * 3), n + 1, w, h)), /closed/);
});
