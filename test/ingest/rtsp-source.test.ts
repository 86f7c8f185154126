// The live RTSP source against a real RTSP server and a real ffmpeg "camera": frames of the
// right size, the camera dying and coming back, an unreachable camera, the back-off.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveSource, liveInputArgs, type LiveEvent, type LiveFrame } from '../../src/ingest/live-source.ts';
import { backoffDelay } from '../../src/ingest/backoff.ts';
import { tmpDir } from '../helpers.ts';
import { cameraServer, freePort, makeCameraClip, startCamera, waitFor } from '../serve/live-helpers.ts';

test('back-off doubles from the initial delay, is capped, and is jittered into [half, full]', () => {
  const opts = { initialMs: 100, maxMs: 1000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, opts, () => 1)),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.deepEqual(
    [1, 2, 5].map((n) => backoffDelay(n, opts, () => 0)),
    [50, 100, 500],
  );
});

function source(url: string, events: LiveEvent[]): LiveSource {
  return new LiveSource({ display: url, ...liveInputArgs(url, { transport: 'udp' }) }, { connectTimeoutMs: 3000, stallTimeoutMs: 1500, backoff: { initialMs: 200, maxMs: 800 } }, (e) =>
    events.push(e),
  );
}

test('an RTSP camera that dies and comes back: frames, down, reconnect, up, and a reset on the first new frame', { timeout: 90_000 }, async () => {
  const dir = tmpDir();
  const clip = makeCameraClip(dir, { width: 320, height: 180, seconds: 4 });
  const server = await cameraServer();
  let camera = startCamera(clip, server.publishUrl('cam'));
  const events: LiveEvent[] = [];
  const src = source(server.readUrl('cam'), events);
  // (also after a timeout, when the finally below never runs)
  after(async () => {
    await src.stop();
    await camera.kill();
    await server.close();
  });
  try {
    // open() retries on its own until the camera has published
    const format = (await src.open())!;
    assert.deepEqual([format.width, format.height], [320, 180]);
    assert.ok(Math.abs(format.fps - 12.5) < 0.1, `fps ${format.fps}`);

    const frames: Pick<LiveFrame, 'seq' | 'reset' | 'width' | 'height'>[] = [];
    let bytesOk = true;
    const consumer = (async () => {
      for await (const f of src.start()) {
        frames.push({ seq: f.seq, reset: f.reset, width: f.width, height: f.height });
        bytesOk &&= f.data.length === 320 * 180 * 3;
      }
    })();
    await waitFor('frames from the camera', () => frames.length >= 10, 20_000);
    assert.equal(frames[0].reset, true, 'the first frame starts a connection');
    assert.ok(frames.slice(1, 10).every((f) => !f.reset));
    assert.ok(src.up);

    const seen = events.length;
    await camera.kill('SIGKILL');
    await waitFor('the source to notice the camera is gone', () => !src.up, 10_000, 100);
    const down = events.slice(seen).find((e) => e.type === 'down');
    assert.ok(down && down.type === 'down' && /stalled|no frame/.test(down.reason), JSON.stringify(down));
    const before = frames.length;

    camera = startCamera(clip, server.publishUrl('cam'));
    await waitFor('the source to come back', () => src.up && frames.length > before + 5, 30_000, 100);
    assert.ok(src.reconnects >= 1, `reconnects ${src.reconnects}`);
    assert.ok(events.some((e) => e.type === 'reconnecting'));
    const firstNew = frames[before];
    assert.equal(firstNew.reset, true, 'the first frame after a reconnect resets smoothing');
    assert.ok(
      frames.every((f, i) => f.seq === i),
      'one sequence across connections',
    );
    assert.ok(bytesOk && frames.every((f) => f.width === 320 && f.height === 180));

    await src.stop();
    await consumer;
  } finally {
    await src.stop();
    await camera.kill();
    await server.close();
  }
});

test('an unreachable camera: keeps retrying with growing delays, says why, stops promptly', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const events: LiveEvent[] = [];
  const src = source(`rtsp://user:hunter2@127.0.0.1:${port}/nothing`, events);
  const opened = src.open();
  await waitFor('three failed attempts', () => events.filter((e) => e.type === 'down').length >= 3, 15_000, 50);
  const downs = events.filter((e): e is Extract<LiveEvent, { type: 'down' }> => e.type === 'down');
  assert.match(downs[0].reason, /cannot open .*refused/i);
  assert.ok(
    downs.every((d) => !d.reason.includes('hunter2')),
    'no password in the reason',
  );
  assert.ok(src.reconnects >= 2);
  assert.ok(downs.every((d) => d.retryInMs <= 800));
  const t0 = Date.now();
  await src.stop();
  assert.equal(await opened, null);
  assert.ok(Date.now() - t0 < 2000, 'stop() ends the retry loop at once');
});
