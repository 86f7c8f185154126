// A camera with a long keyframe interval (x264's default -g 250 is 20 s at 12.5 fps; here
// -g 125, 10 s) against a real RTSP server: the source connects at once, says it waits for a
// keyframe, and has its first frame at the camera's next keyframe, well past the connect
// timeout; after the camera dies and returns, again. (Issue 18, defect 4: with the connect
// timeout counting to the first frame, such a camera never came up.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { LiveSource, liveInputArgs, type LiveEvent } from '../../src/ingest/live-source.ts';
import { ffmpegPath } from '../../src/util/ffmpeg.ts';
import { cameraServer, waitFor, type Camera } from '../serve/live-helpers.ts';

const FPS = 12.5;
const GOP = 125; // frames: a keyframe every 10 s
const CONNECT_TIMEOUT_MS = 2000;

/** ffmpeg encoding a test pattern live, H.264 with a keyframe every GOP frames, published over RTSP. */
function longGopCamera(publishUrl: string): Camera {
  const child = spawn(
    ffmpegPath(),
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-re',
      '-f',
      'lavfi',
      '-i',
      `testsrc=size=320x180:rate=${FPS}`,
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-pix_fmt',
      'yuv420p',
      '-g',
      String(GOP),
      '-keyint_min',
      String(GOP),
      '-sc_threshold',
      '0',
      '-f',
      'rtsp',
      '-rtsp_transport',
      'udp',
      publishUrl,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  return {
    child,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

test(
  'a camera with a keyframe every 10 s: connected at once, "waiting for a keyframe", first frame at the keyframe past the 2 s connect timeout; and again after it returns',
  { timeout: 120_000 },
  async () => {
    const server = await cameraServer();
    let camera = longGopCamera(server.publishUrl('cam'));
    const events: { at: number; e: LiveEvent }[] = [];
    const src = new LiveSource(
      { display: server.readUrl('cam'), ...liveInputArgs(server.readUrl('cam'), { transport: 'udp' }) },
      // (the first retry 2-4 s after the camera went: after the returning camera's first keyframe)
      { connectTimeoutMs: CONNECT_TIMEOUT_MS, stallTimeoutMs: 1500, backoff: { initialMs: 4000, maxMs: 4000 } },
      (e) => events.push({ at: Date.now(), e }),
    );
    after(async () => {
      await src.stop();
      await camera.kill();
      await server.close();
    });

    await waitFor('the camera to publish', () => server.published('cam'), 20_000, 50);
    // The probe reads up to 5 s of stream, the decoder starts after it: the next keyframe
    // is 10 s after the camera's first, several seconds after the decoder connected.
    const t0 = Date.now();
    let frames = 0;
    let firstAt = 0;
    const consumer = (async () => {
      for await (const f of src.start()) {
        assert.equal(f.width * f.height * 3, f.data.length);
        frames++;
        firstAt ||= Date.now();
      }
    })();

    await waitFor('the first frames', () => frames >= 3, 30_000, 100);
    const firstMs = firstAt - t0;
    const waiting = events.find((x) => x.e.type === 'waiting');
    assert.ok(waiting && waiting.e.type === 'waiting', JSON.stringify(events.map((x) => x.e)));
    assert.match(waiting.e.reason, /waiting for a keyframe/);
    assert.ok(waiting.at <= firstAt, 'connected before the first frame');
    assert.ok(firstMs > CONNECT_TIMEOUT_MS, `the first frame came after the connect timeout (${firstMs} ms): the test tried what it meant to`);
    const downsBefore = events.filter((x) => x.e.type === 'down' && x.at < firstAt).map((x) => x.e);
    assert.deepEqual(downsBefore, [], 'no attempt failed on the way to the first keyframe');

    // The camera dies and comes back at once; the source retries 2-4 s later, after the camera's
    // first keyframe, so it waits for the next.
    await camera.kill();
    await waitFor('the source to notice', () => !src.up, 10_000, 50);
    const downAt = Date.now();
    camera = longGopCamera(server.publishUrl('cam'));
    const before = frames;
    await waitFor('the source to come back', () => src.up && frames > before + 2, 40_000, 100);
    const waitedAgain = events.some((x) => x.e.type === 'waiting' && x.at > downAt);
    assert.ok(waitedAgain, 'it said again that it waits for a keyframe');
    const failedAfter = events.filter((x) => x.e.type === 'down' && x.at > downAt).map((x) => (x.e as { reason: string }).reason);
    assert.ok(
      failedAfter.every((r) => !/no answer|no keyframe/.test(r)),
      `no attempt timed out while the camera was there: ${failedAfter.join(' | ')}`,
    );

    await src.stop();
    await consumer;
  },
);
