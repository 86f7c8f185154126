// The per-stream loop that run and serve share, with real parts: ffmpeg decoders, onnxruntime
// sessions in their worker, and sinks that record what reaches them.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Frame, Sink } from '../../src/frame.ts';
import { Derainer } from '../../src/infer/derainer.ts';
import { buildBuiltinModel } from '../../src/infer/builtin-model.ts';
import { buildFusedBytes } from '../../src/infer/fused-graph.ts';
import { prepareModel } from '../../src/infer/prepare-model.ts';
import { FfmpegSource } from '../../src/ingest/ffmpeg-source.ts';
import { probeInput } from '../../src/ingest/probe.ts';
import { FILE_POLICY, InferenceFailed, LIVE_POLICY, Pipeline } from '../../src/pipeline/index.ts';
import { countFrames, derain, ffmpeg, makeClip, tmpDir } from '../helpers.ts';
import { writeFlakyModel } from './flaky-model.ts';

const dir = tmpDir();
const W = 64;
const H = 48;

/** Records the sequence numbers and staleness of what it is given. */
class RecordingSink implements Sink {
  readonly seqs: number[] = [];
  stale = 0;
  closed = false;
  write(frame: Frame): void {
    if (frame.stale) this.stale++;
    else this.seqs.push(frame.seq);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A clip of black and white stretches (seconds each, 10 fps); the flaky model fails on white. */
function blackWhite(name: string, parts: ('black' | 'white')[], seconds: number[]): string {
  const file = path.join(dir, name);
  const inputs = parts.flatMap((c, i) => ['-f', 'lavfi', '-i', `color=${c}:s=${W}x${H}:r=10:d=${seconds[i]}`]);
  const chain = parts.map((_, i) => `[${i}]`).join('') + `concat=n=${parts.length}:v=1`;
  ffmpeg([...inputs, '-filter_complex', chain, '-pix_fmt', 'yuv420p', file]);
  return file;
}

async function open(model: Uint8Array): Promise<Derainer> {
  return Derainer.open({ model, width: W, height: H, ep: 'cpu', smooth: 0 });
}

const flaky = writeFlakyModel(path.join(dir, 'flaky.onnx'));
const flakyFused = () => prepareModel(flaky, { width: W, height: H }, {}).fused;

test('file policy: every decoded frame reaches every sink once, in order, and the sinks are closed', async () => {
  const clip = path.join(dir, 'clip.mkv');
  makeClip(clip, { width: W, height: H, frames: 37 });
  const info = await probeInput(clip);
  const derainer = await open(buildFusedBytes(buildBuiltinModel(), { width: W, height: H, inferWidth: W, inferHeight: H, multiple: 4, output: 'residual' }));
  const a = new RecordingSink();
  const b = new RecordingSink();
  try {
    const stats = await new Pipeline({ source: new FfmpegSource(info), inference: derainer, sinks: [a, b], policy: FILE_POLICY, keepTimings: true, expectFrames: 37 }).run();
    assert.equal(stats.framesIn, 37);
    assert.equal(stats.framesOut, 37);
    assert.equal(stats.inferenceMs.length, 37);
  } finally {
    await derainer.close();
  }
  const inOrder = Array.from({ length: 37 }, (_, i) => i);
  assert.deepEqual(a.seqs, inOrder);
  assert.deepEqual(b.seqs, inOrder);
  assert.ok(a.closed && b.closed);
});

test('file policy: a frame the model fails on ends the run with its number; the frames before it were written', async () => {
  const clip = blackWhite('bw-pipe.mp4', ['black', 'white'], [2, 2]);
  const info = await probeInput(clip);
  const derainer = await open(flakyFused());
  const sink = new RecordingSink();
  let aborted = false;
  try {
    const p = new Pipeline({ source: new FfmpegSource(info), inference: derainer, sinks: [Object.assign(sink, { abort: async () => void (aborted = true) })], policy: FILE_POLICY });
    await assert.rejects(p.run(), (err: unknown) => err instanceof InferenceFailed && err.frame === 21 && /out of data bounds/.test(err.message));
  } finally {
    await derainer.close();
  }
  assert.deepEqual(
    sink.seqs,
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.ok(aborted, 'the sink is aborted (keeps what it has, marked), not closed as complete');
});

test('live policy: frames the model fails on are dropped and counted, and the stream goes on', async () => {
  // 2 s black, 0.3 s white (3 failing frames, fewer than the 5 in a row that fail a stream), 2 s
  // black, decoded at the camera's pace (-re), as a live source delivers
  const clip = blackWhite('bwb.mp4', ['black', 'white', 'black'], [2, 0.3, 2]);
  const info = await probeInput(clip);
  const derainer = await open(flakyFused());
  const sink = new RecordingSink();
  const drops: Record<string, number> = {};
  try {
    const stats = await new Pipeline({
      source: new FfmpegSource(info, { policy: 'drop-oldest', inputArgs: ['-re', '-i', clip] }),
      inference: derainer,
      sinks: [sink],
      policy: LIVE_POLICY,
      onDrop: (reason, n) => (drops[reason] = (drops[reason] ?? 0) + n),
    }).run();
    assert.equal(drops.inference_error, 3);
    assert.equal(stats.framesOut + (drops.inference_error ?? 0) + (drops.behind ?? 0), stats.framesIn);
  } finally {
    await derainer.close();
  }
  assert.ok(
    sink.seqs.some((s) => s > 23),
    `frames after the failing ones came out (last ${sink.seqs.at(-1)})`,
  );
});

test('live policy without retry: failures in a row end the run with the count', async () => {
  const clip = blackWhite('bw-live.mp4', ['black', 'white'], [1, 2]);
  const info = await probeInput(clip);
  const derainer = await open(flakyFused());
  try {
    const p = new Pipeline({
      source: new FfmpegSource(info, { policy: 'drop-oldest', inputArgs: ['-re', '-i', clip] }),
      inference: derainer,
      sinks: [new RecordingSink()],
      policy: { kind: 'latest', maxFailures: 5 },
    });
    await assert.rejects(p.run(), (err: unknown) => err instanceof InferenceFailed && err.times === 5 && /5 frames in a row/.test(err.message));
  } finally {
    await derainer.close();
  }
});

test('live policy: failures in a row mark the stream failing, it retries after a back-off and recovers', async () => {
  const clip = blackWhite('bwb-long.mp4', ['black', 'white', 'black'], [1, 1.5, 2]);
  const info = await probeInput(clip);
  const derainer = await open(flakyFused());
  const sink = new RecordingSink();
  const events: string[] = [];
  try {
    await new Pipeline({
      source: new FfmpegSource(info, { policy: 'drop-oldest', inputArgs: ['-re', '-i', clip] }),
      inference: derainer,
      sinks: [sink],
      policy: { kind: 'latest', maxFailures: 5, retry: { initialMs: 300, maxMs: 300 } },
      onFailing: (err, ms) => events.push(`failing ${err.times} ${ms > 0}`),
      onRecovered: () => events.push('recovered'),
    }).run();
  } finally {
    await derainer.close();
  }
  assert.equal(events[0], 'failing 5 true');
  assert.equal(events.at(-1), 'recovered');
  assert.ok(
    sink.seqs.some((s) => s >= 25),
    `frames after the white stretch came out (last ${sink.seqs.at(-1)})`,
  );
});

test('live policy: the heartbeat repeats the last frame, marked stale, while no frame comes', async () => {
  // one frame, then the source stays open without frames: a camera that went quiet
  const clip = blackWhite('one.mp4', ['black'], [0.1]);
  const info = await probeInput(clip);
  const derainer = await open(flakyFused());
  const sink = new RecordingSink();
  const source = new FfmpegSource(info, { policy: 'drop-oldest' });
  const quiet: typeof source = Object.assign(Object.create(source), {
    async *start() {
      yield* source.start();
      await new Promise((r) => setTimeout(r, 600));
    },
  });
  try {
    await new Pipeline({ source: quiet, inference: derainer, sinks: [sink], policy: LIVE_POLICY, heartbeat: { intervalMs: 50, staleAfterMs: 100 } }).run();
  } finally {
    await derainer.close();
  }
  assert.deepEqual(sink.seqs, [0]);
  assert.ok(sink.stale >= 5, `${sink.stale} stale repeats in 0.5 s at 20 a second`);
});

test('derain run with a model that fails mid-file exits 1 at once, names the frame, and keeps the frames done', async () => {
  const clip = blackWhite('bw.mp4', ['black', 'white'], [4, 4]);
  for (let i = 0; i < 3; i++) {
    const out = path.join(dir, `flaky-${i}.mp4`);
    const t0 = Date.now();
    const r = await derain(['run', clip, '-o', out, '--model', flaky, '--no-smooth'], { timeoutMs: 20_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('derain: error'));
    assert.equal(lines.length, 1);
    assert.match(lines[0], /inference failed on frame 41: .*out of data bounds/);
    assert.doesNotMatch(lines[0], /inference failed: inference failed/);
    const kept = path.join(dir, `flaky-${i}.incomplete.mp4`);
    assert.match(lines[0], new RegExp(`40 frames done are kept in ${kept.replace(/[.]/g, '\\.')}`));
    assert.equal(countFrames(kept).frames, 40);
    assert.ok(!existsSync(out));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(`flaky-${i}.mp4.partial`)),
      [],
    );
  }
});
