// serve with a model that fails on some frames: each failing frame is dropped and counted, the
// stream goes on; a run of failures marks it failed, and it comes back by itself afterwards.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe } from '../../src/serve/serve.ts';
import { ffmpeg, tmpDir } from '../helpers.ts';
import { getJson, metric, waitFor } from './live-helpers.ts';
import { writeFlakyModel } from '../pipeline/flaky-model.ts';

test('a failing frame is dropped and counted; failures in a row fail the stream, which then recovers', { timeout: 90_000 }, async () => {
  const dir = tmpDir();
  const flaky = writeFlakyModel(path.join(dir, 'flaky.onnx'));
  // looped in real time as a stand-in camera: 2 s dark, 0.2 s bright (2 failing frames), 2 s
  // dark, 1.5 s bright (15: a run that fails the stream), 2 s dark
  const clip = path.join(dir, 'cam.mp4');
  const parts = [
    ['black', 2],
    ['white', 0.2],
    ['black', 2],
    ['white', 1.5],
    ['black', 2],
  ] as const;
  ffmpeg([
    ...parts.flatMap(([c, d]) => ['-f', 'lavfi', '-i', `color=${c}:s=64x48:r=10:d=${d}`]),
    '-filter_complex',
    `${parts.map((_, i) => `[${i}]`).join('')}concat=n=${parts.length}:v=1`,
    '-pix_fmt',
    'yuv420p',
    '-g',
    '5',
    clip,
  ]);
  const logs: string[] = [];
  const config = resolveConfig({ server: { port: 0 }, rtsp: { enabled: false }, streams: [{ id: 'cam', url: clip, model: flaky, smooth: 0 }] }, 'test config', dir);
  const svc = await startServe(config, { log: (m) => logs.push(m) });
  after(() => svc.close());
  const status = async () => (await getJson(`${svc.httpUrl}/api/streams/cam`)).body;

  const dropped = await waitFor(
    'a dropped failing frame while the stream stays live',
    async () => {
      const s = await status();
      return s.dropped.inference_error > 0 && s.state === 'live' ? s : null;
    },
    30_000,
  );
  const processedThen = dropped.framesProcessed;
  const failed = await waitFor(
    'the stream failed by a run of failures',
    async () => {
      const s = await status();
      return s.state === 'failed' ? s : null;
    },
    30_000,
  );
  assert.match(failed.reason, /inference failed on frame \d+ \(5 frames in a row\): .*retrying in/);
  const health = await getJson(`${svc.httpUrl}/healthz`);
  assert.equal(health.status, 503);
  const back = await waitFor(
    'the stream live again',
    async () => {
      const s = await status();
      return s.state === 'live' && s.framesProcessed > processedThen + 5 ? s : null;
    },
    40_000,
  );
  assert.ok(back.dropped.inference_error >= 7, `dropped ${back.dropped.inference_error}`);
  const text = await (await fetch(`${svc.httpUrl}/metrics`)).text();
  assert.ok(metric(text, 'derain_frames_dropped_total', { stream: 'cam', reason: 'inference_error' })! >= 7);
  assert.ok(
    logs.some((l) => /inference works again/.test(l)),
    logs.join('\n'),
  );
});
