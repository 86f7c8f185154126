// A camera killed and restored 20 times in a row: ffmpeg publishing the real clip to a real
// RTSP server is killed (SIGKILL) and started again each time the service has noticed. The
// outputs never stop (stale repeats fill every outage), every outage is a counted reconnect,
// and every restore brings fresh frames back.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe } from '../../src/serve/serve.ts';
import { tmpDir } from '../helpers.ts';
import { cameraServer, getJson, makeCameraClip, metric, rtpBase, startCamera, waitFor } from '../serve/live-helpers.ts';
import { watchFrames, watchRtsp } from './fault-helpers.ts';

const CYCLES = 20;
const FPS = 12.5;

test(`a camera killed and restored ${CYCLES} times: the outputs never stop, ${CYCLES}/${CYCLES} recovered, reconnects counted`, { timeout: 150_000 }, async (t) => {
  const dir = tmpDir();
  const clip = makeCameraClip(dir);
  const cams = await cameraServer();
  let camera = startCamera(clip, cams.publishUrl('cam'));
  // Short timeouts and back-off keep a cycle near 2 s; the defaults (5 s stall, 0.5-30 s
  // back-off) behave the same, only slower.
  const config = resolveConfig(
    {
      server: { port: 0 },
      rtsp: { port: 0, rtpPortStart: rtpBase(), rtpPortCount: 40 },
      streams: [{ id: 'cam', url: cams.readUrl('cam'), transport: 'udp', model: 'builtin-tiny', stallTimeout: 1, connectTimeout: 3, backoffInitial: 0.1, backoffMax: 0.4 }],
    },
    'test config',
    dir,
  );
  const logs: string[] = [];
  const svc = await startServe(config, { log: (m) => logs.push(m) });
  let rtsp: ReturnType<typeof watchRtsp> | null = null;
  after(async () => {
    await rtsp?.stop();
    await camera.kill();
    await svc.close();
    await cams.close();
  });
  const base = svc.httpUrl;
  const api = async () => (await getJson(`${base}/api/streams/cam`)).body;
  await waitFor('the stream live', async () => (await api()).state === 'live', 40_000);
  const ws = await watchFrames(`${base.replace('http', 'ws')}/ws/cam?format=rgb24`);
  t.after(() => ws.close());
  rtsp = watchRtsp(svc.rtsp!.readUrl('cam'));
  await waitFor('the RTSP reader to decode', () => rtsp!.frames() > 0, 20_000);
  const before = await api();
  const from = ws.arrivals.length;
  const startedAt = Date.now();

  const recoveries: number[] = [];
  const reconnectsPerCycle: number[] = [];
  for (let i = 1; i <= CYCLES; i++) {
    const r0 = (await api()).reconnects;
    const lastSeq = ws.arrivals.at(-1)!.seq;
    await camera.kill('SIGKILL');
    // Down for as long as it takes the stall watchdog to see it and the source to retry.
    await waitFor(`the source to retry (cycle ${i})`, async () => (await api()).reconnects > r0, 10_000, 50);
    camera = startCamera(clip, cams.publishUrl('cam'));
    const restoredAt = Date.now();
    const seen = ws.arrivals.length;
    await waitFor(`fresh frames after restore ${i}`, () => ws.fresh(seen, lastSeq).length > 0, 15_000, 20);
    recoveries.push(ws.fresh(seen, lastSeq)[0].at - restoredAt);
    reconnectsPerCycle.push((await api()).reconnects - r0);
  }
  const flapMs = Date.now() - startedAt;
  const after_ = await waitFor('live after the last restore', async () => {
    const s = await api();
    return s.state === 'live' ? s : null;
  });

  const gap = ws.maxGap(from);
  const staleFrames = ws.arrivals.slice(from).filter((a) => a.stale).length;
  t.diagnostic(
    `${CYCLES} cycles in ${(flapMs / 1000).toFixed(1)} s; recoveries (restore to fresh frame) ${recoveries.join(', ')} ms; max gap on the WebSocket ${gap.ms} ms (bound ${ws.gapBound(1000 / FPS)} ms); ${staleFrames} stale of ${ws.arrivals.length - from} frames; RTSP reader's longest stall ${rtsp.longestStallMs()} ms, ${rtsp.frames()} frames; reconnects per cycle ${reconnectsPerCycle.join(',')}`,
  );

  assert.equal(recoveries.length, CYCLES, `${recoveries.length}/${CYCLES} recovered`);
  assert.ok(
    recoveries.every((ms) => ms < 10_000),
    `recoveries: ${recoveries.join(', ')} ms`,
  );
  // The heartbeat repeats the last frame once none came for a while, then at the usual rate:
  const bound = ws.gapBound(1000 / FPS);
  assert.ok(gap.ms <= bound, `the WebSocket output stopped for ${gap.ms} ms (bound ${bound} ms) at ${new Date(gap.at).toISOString()}`);
  assert.ok(staleFrames >= CYCLES * 3, `stale repeats filled the outages: ${staleFrames}`);
  // The reader reports its count every 0.5 s, and the encoder and reader share two busy cores
  // with everything else; an output that stopped would hold the reader for 10 s (ffmpeg's RTP
  // timeout) or end it.
  assert.ok(rtsp.longestStallMs() < 2500, `the RTSP output stood still for ${rtsp.longestStallMs()} ms`);

  const reconnects = after_.reconnects - before.reconnects;
  assert.ok(
    reconnectsPerCycle.every((n) => n >= 1),
    `every outage a reconnect: ${reconnectsPerCycle.join(',')}`,
  );
  assert.ok(reconnects >= CYCLES, `reconnects ${reconnects}`);
  const text = await (await fetch(`${base}/metrics`)).text();
  assert.equal(metric(text, 'derain_source_reconnects_total', { stream: 'cam' }), after_.reconnects, 'the metric counts what the API says');
  assert.equal(metric(text, 'derain_source_up', { stream: 'cam' }), 1);
  assert.equal(logs.filter((l) => /stream cam: source up/.test(l)).length, CYCLES + 1, 'one "source up" per connection');
  assert.ok(logs.filter((l) => /stream cam: no frame for 1 s \(stalled\)/.test(l)).length >= CYCLES, 'each outage found by the stall watchdog');
  assert.equal((await getJson(`${base}/healthz`)).status, 200);
});
