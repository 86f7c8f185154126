// A camera frozen with SIGSTOP: the publishing ffmpeg stops mid-stream and its connection stays
// open, so nothing tells the service the camera is gone but the silence. The stall watchdog
// restarts the decoder; stale repeats go on meanwhile; the stream comes back after SIGCONT,
// and again when a frozen camera is replaced by a new one.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe } from '../../src/serve/serve.ts';
import { tmpDir } from '../helpers.ts';
import { cameraServer, getJson, makeCameraClip, metric, rtpBase, sleep, startCamera, waitFor } from '../serve/live-helpers.ts';
import { ffmpegChildren, watchFrames } from './fault-helpers.ts';

const FPS = 12.5;
const STALL_S = 1.5;

test('a camera frozen with SIGSTOP: the stall watchdog restarts the decoder, stale frames go on, it comes back after SIGCONT and after a new camera', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir();
  const clip = makeCameraClip(dir);
  const cams = await cameraServer();
  let camera = startCamera(clip, cams.publishUrl('cam'));
  const camUrl = cams.readUrl('cam');
  const config = resolveConfig(
    {
      server: { port: 0 },
      rtsp: { port: 0, rtpPortStart: rtpBase(), rtpPortCount: 40 },
      streams: [{ id: 'cam', url: camUrl, transport: 'udp', model: 'builtin-tiny', stallTimeout: STALL_S, connectTimeout: 2, backoffInitial: 0.1, backoffMax: 0.5 }],
    },
    'test config',
    dir,
  );
  const logs: { at: number; msg: string }[] = [];
  const svc = await startServe(config, { log: (msg) => logs.push({ at: Date.now(), msg }) });
  after(async () => {
    if (camera.child.exitCode === null) camera.child.kill('SIGCONT');
    await camera.kill();
    await svc.close();
    await cams.close();
  });
  const base = svc.httpUrl;
  const api = async () => (await getJson(`${base}/api/streams/cam`)).body;
  const scrape = async () => (await fetch(`${base}/metrics`)).text();
  await waitFor('the stream live', async () => (await api()).state === 'live', 40_000);
  const ws = await watchFrames(`${base.replace('http', 'ws')}/ws/cam?format=rgb24`);
  t.after(() => ws.close());
  await waitFor('frames', () => ws.fresh(0).length >= 5, 20_000);
  const from = ws.arrivals.length;
  const stalls = (since: number) => logs.filter((l) => l.at >= since && /stream cam: no frame for 1\.5 s \(stalled\)/.test(l.msg));

  /** Freezes the camera; resolves once the watchdog restarted the decoder, with what it saw. */
  const freeze = async (what: string) => {
    const [decoder] = ffmpegChildren(camUrl);
    assert.ok(decoder, 'the decoder runs as a child process');
    const r0 = (await api()).reconnects;
    const at = Date.now();
    camera.child.kill('SIGSTOP');
    await waitFor(`the stall watchdog (${what})`, () => stalls(at).length > 0, 15_000, 50);
    const foundMs = stalls(at)[0].at - at;
    const s = await waitFor(`a new decoder (${what})`, async () => {
      const st = await api();
      return st.reconnects > r0 ? st : null;
    });
    assert.ok(!ffmpegChildren(camUrl).includes(decoder), `the stalled decoder ${decoder} was stopped`);
    assert.equal(s.state, 'stale');
    assert.equal(metric(await scrape(), 'derain_source_up', { stream: 'cam' }), 0);
    // Frozen a while longer: the outputs repeat the last good frame throughout.
    const mark = ws.arrivals.length;
    const lastSeq = ws.arrivals.at(-1)!.seq;
    await sleep(2500);
    const during = ws.arrivals.slice(mark);
    assert.ok(during.length >= 2.5 * FPS * 0.6, `${during.length} frames in 2.5 s while frozen`);
    assert.ok(
      during.every((a) => a.stale && a.seq === lastSeq),
      `only stale repeats of frame ${lastSeq} while frozen`,
    );
    const h = await getJson(`${base}/healthz`);
    assert.equal(h.status, 503);
    assert.equal(h.body.streams.cam.state, 'stale');
    return { foundMs, lastSeq };
  };
  const comesBack = async (lastSeq: number, what: string) => {
    const at = Date.now();
    const seen = ws.arrivals.length;
    await waitFor(`fresh frames (${what})`, () => ws.fresh(seen, lastSeq).length > 0, 20_000, 20);
    const ms = ws.fresh(seen, lastSeq)[0].at - at;
    await waitFor(`live (${what})`, async () => (await api()).state === 'live', 10_000);
    return ms;
  };

  // 1. frozen, then thawed
  const a = await freeze('SIGSTOP');
  camera.child.kill('SIGCONT');
  const thawMs = await comesBack(a.lastSeq, 'SIGCONT');

  // 2. frozen, then replaced: a camera rebooted while its old connection hangs
  const b = await freeze('SIGSTOP again');
  await camera.kill('SIGKILL');
  camera = startCamera(clip, cams.publishUrl('cam'));
  const replaceMs = await comesBack(b.lastSeq, 'a new camera');

  const gap = ws.maxGap(from);
  t.diagnostic(
    `stall found ${a.foundMs} and ${b.foundMs} ms after SIGSTOP (stallTimeout ${STALL_S * 1000} ms); fresh frames ${thawMs} ms after SIGCONT, ${replaceMs} ms after a new camera; max gap on the WebSocket ${gap.ms} ms (bound ${ws.gapBound(1000 / FPS)} ms)`,
  );
  for (const ms of [a.foundMs, b.foundMs]) {
    // (frames already in the decoder's buffers come out first, then the watchdog's 1.5 s)
    assert.ok(ms >= STALL_S * 1000 && ms < STALL_S * 1000 + 2000, `stall found ${ms} ms after SIGSTOP`);
  }
  assert.ok(thawMs < 8000 && replaceMs < 8000, `back after ${thawMs} / ${replaceMs} ms`);
  const bound = ws.gapBound(1000 / FPS);
  assert.ok(gap.ms <= bound, `the WebSocket output stopped for ${gap.ms} ms (bound ${bound} ms)`);
  const text = await scrape();
  assert.equal(metric(text, 'derain_source_up', { stream: 'cam' }), 1);
  assert.ok(metric(text, 'derain_source_reconnects_total', { stream: 'cam' })! >= 2);
  assert.equal((await getJson(`${base}/healthz`)).status, 200);
});
