// Skipping a camera's frames in the decoder when they are taken far slower than it sends them:
// the rule, then a real RTSP camera and ffmpeg decoder with a slow consumer and a fast one.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Decimation, MAX_LEVEL } from '../../src/ingest/decimation.ts';
import { LiveSource, liveInputArgs, type LiveEvent } from '../../src/ingest/live-source.ts';
import { tmpDir } from '../helpers.ts';
import { cameraServer, makeCameraClip, startCamera, waitFor } from '../serve/live-helpers.ts';

/** The levels a consumer taking `rate` frames a second of a 25 fps camera is brought to, one window after another. */
function levels(rate: number, windows: number, d = new Decimation(25, 0)): number[] {
  const out: number[] = [];
  for (let w = 1; w <= windows; w++) {
    for (let i = 0; i < rate * 4; i++) d.took();
    d.decide(w * 4000);
    out.push(d.level);
  }
  return out;
}

test('the skip level: one step a window, towards converting 4-8 times what is taken, and back', () => {
  assert.deepEqual(levels(25, 3), [0, 0, 0], 'a consumer that keeps up: every frame');
  assert.deepEqual(levels(4, 3), [0, 0, 0], '4 of 25: over 1/8, every frame');
  assert.deepEqual(levels(1.5, 4), [1, 2, 2, 2], '1.5 of 25: a quarter converted (6.25 fps)');
  assert.deepEqual(levels(3, 3), [1, 1, 1], '3 of 25: half (12.5 fps), not under 1/8 of it nor over 1/3');
  assert.deepEqual(levels(0, 6), [1, 2, 3, 4, 4, 4], `at most level ${MAX_LEVEL}`);
  assert.deepEqual(levels(0.5, 5), [1, 2, 3, 3, 3], '0.5 of 25: 3.1 fps converted');
  const d = new Decimation(25, 0);
  levels(1.5, 3, d);
  assert.equal(d.step, 4);
  // the consumer speeds up and takes all that is converted: back to every frame
  const back: number[] = [];
  for (let w = 4; w <= 6; w++) {
    for (let i = 0; i < (25 / d.step) * 4; i++) d.took();
    d.decide(w * 4000);
    back.push(d.level);
  }
  assert.deepEqual(back, [1, 0, 0]);
  // a window too short decides nothing
  assert.equal(new Decimation(25, 0).decide(3500), null);
});

test('a real camera taken at 1.25 fps: its decoder converts half of its frames, every frame is counted, and all again once taken fast', { timeout: 120_000 }, async () => {
  const dir = tmpDir();
  const clip = makeCameraClip(dir, { width: 320, height: 180, seconds: 4 });
  const server = await cameraServer();
  const camera = startCamera(clip, server.publishUrl('cam'));
  const events: LiveEvent[] = [];
  const url = server.readUrl('cam');
  const src = new LiveSource({ display: url, ...liveInputArgs(url, { transport: 'udp' }) }, { connectTimeoutMs: 5000, stallTimeoutMs: 3000, backoff: { initialMs: 200, maxMs: 800 } }, (e) =>
    events.push(e),
  );
  after(async () => {
    await src.stop();
    await camera.kill();
    await server.close();
  });
  await src.open();
  let taken = 0;
  let slow = true;
  const consumer = (async () => {
    for await (const f of src.start()) {
      assert.equal(f.data.length, 320 * 180 * 3);
      taken++;
      if (slow) await sleep(800);
    }
  })();
  // a 12.5 fps camera, 1.25 taken: under 1/8 of 12.5 (1.56) -> level 1; not under 1/8 of 6.25 (0.78) nor over 1/3 (2.1): stays
  await waitFor('the decoder to convert one frame in 2', () => src.decodeStep === 2, 45_000, 200);
  const [c0, t0] = [src.framesConverted, Date.now()];
  await sleep(5000);
  const convertedFps = ((src.framesConverted - c0) * 1000) / (Date.now() - t0);
  assert.ok(convertedFps > 4 && convertedFps < 8, `converted ${convertedFps.toFixed(2)} fps of a 12.5 fps camera at step 2`);
  assert.equal(src.decodeStep, 2, 'and stays there');

  slow = false;
  await waitFor('every frame converted again', () => src.decodeStep === 1, 45_000, 200);
  await src.stop();
  await consumer;
  const count = (type: 'ingested' | 'dropped') => events.reduce((n, e) => n + (e.type === type ? (e.type === 'ingested' ? (e.count ?? 1) : e.count) : 0), 0);
  const [ingested, dropped] = [count('ingested'), count('dropped')];
  // every frame from the camera was either taken or dropped (a few may sit in the ring at the stop)
  assert.ok(ingested - dropped - taken >= 0 && ingested - dropped - taken <= 3, `ingested ${ingested}, dropped ${dropped}, taken ${taken}`);
  assert.ok(dropped > taken, `the skipped frames are counted as dropped: ${dropped} dropped, ${taken} taken`);
});
