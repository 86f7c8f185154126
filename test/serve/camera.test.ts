// `serve` end to end with a real camera: ffmpeg publishes the real traffic clip to a real RTSP
// server; serve ingests, derains and republishes it; ffmpeg reads the output over RTSP, a ws
// client receives frames, /metrics is scraped. Then the camera dies and comes back.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import WebSocket from 'ws';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe } from '../../src/serve/serve.ts';
import { decodeFrame, type FrameHeader } from '../../src/egress/ws/frame-header.ts';
import { tmpDir } from '../helpers.ts';
import { cameraServer, getJson, makeCameraClip, metric, readRtsp, rtpBase, rtspReader, sleep, startCamera, waitFor } from './live-helpers.ts';

const PASSWORD = 'hunter2-secret';

test('a camera is derained to RTSP and WebSocket; it dies, the outputs go on with stale frames, it comes back', { timeout: 150_000 }, async () => {
  const dir = tmpDir();
  const clip = makeCameraClip(dir);
  const cams = await cameraServer();
  let camera = startCamera(clip, cams.publishUrl('cam'));
  const camUrl = cams.readUrl('cam').replace('rtsp://', `rtsp://viewer:${PASSWORD}@`);
  const logs: string[] = [];
  const config = resolveConfig(
    {
      server: { port: 0 },
      rtsp: { port: 0, rtpPortStart: rtpBase(), rtpPortCount: 40 },
      streams: [{ id: 'cam', url: camUrl, transport: 'udp', model: 'builtin-tiny', stallTimeout: 1.5, connectTimeout: 3, backoffInitial: 0.2, backoffMax: 1 }],
    },
    'test config',
    dir,
  );
  const svc = await startServe(config, { log: (m) => logs.push(m) });
  const clients: WebSocket[] = [];
  let reader: ReturnType<typeof rtspReader> | null = null;
  after(async () => {
    for (const ws of clients) ws.terminate();
    await reader?.stop();
    await camera.kill();
    await svc.close();
    await cams.close();
  });
  const base = svc.httpUrl;
  const scrape = async () => (await fetch(`${base}/metrics`)).text();

  const health = await waitFor(
    '/healthz to answer 200',
    async () => {
      const r = await getJson(`${base}/healthz`);
      return r.status === 200 ? r : null;
    },
    40_000,
  );
  assert.deepEqual(health.body.streams.cam, { state: 'live', reason: null });

  // The derained RTSP output: decoded frames of the camera's size.
  const outUrl = svc.rtsp!.readUrl('cam');
  const got = await readRtsp(outUrl, 10, path.join(dir, 'out.mp4'));
  assert.deepEqual(got, { frames: 10, width: 384, height: 216 });

  // A detector on the WebSocket: rgb24 frames behind the documented header.
  const headers: FrameHeader[] = [];
  let badPayload = 0;
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/cam?format=rgb24`);
  clients.push(ws);
  let hello: any = null;
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) return (hello = JSON.parse(data.toString()));
    const { header, payload } = decodeFrame(data);
    headers.push(header);
    if (payload.length !== 384 * 216 * 3) badPayload++;
  });
  await waitFor('frames on the WebSocket', () => headers.length >= 5, 20_000);
  assert.deepEqual({ ...hello, headerBytes: undefined }, { type: 'hello', stream: 'cam', format: 'rgb24', raw: false, width: 384, height: 216, fps: 12.5, headerBytes: undefined });
  assert.equal(badPayload, 0);
  const early = headers.slice();
  assert.ok(
    early.every((h) => h.format === 'rgb24' && h.width === 384 && h.height === 216 && !h.stale),
    JSON.stringify(early),
  );
  assert.ok(
    headers.every((h, i) => i === 0 || h.seq > headers[i - 1].seq),
    'frames in order',
  );
  assert.ok(headers.every((h) => Date.now() - h.capturedAt < 10_000 && h.capturedAt > Date.now() - 60_000));

  let text = await scrape();
  assert.ok(metric(text, 'derain_frames_processed_total', { stream: 'cam' })! > 0);
  assert.equal(metric(text, 'derain_source_up', { stream: 'cam' }), 1);
  assert.ok(metric(text, 'derain_frames_ingested_total', { stream: 'cam' })! >= metric(text, 'derain_frames_processed_total', { stream: 'cam' })!);
  assert.equal(metric(text, 'derain_sink_clients', { stream: 'cam', sink: 'ws' }), 1);
  assert.ok(metric(text, 'derain_inference_seconds_count', { stream: 'cam', model: 'builtin-tiny', ep: 'cpu' })! > 0);
  assert.ok(metric(text, 'derain_e2e_latency_seconds_count', { stream: 'cam' })! > 0);
  assert.ok(metric(text, 'process_resident_memory_bytes')! > 0, 'default process metrics');
  const reconnectsBefore = metric(text, 'derain_source_reconnects_total', { stream: 'cam' })!;

  // The camera dies. An RTSP reader of the output keeps getting frames throughout.
  reader = rtspReader(outUrl);
  await waitFor('the RTSP reader to start', () => reader!.frames() > 0, 20_000);
  await camera.kill('SIGKILL');
  // The API says stale as soon as the outputs repeat frames (~0.5 s), not when the watchdog gives up (5 s).
  const killedAt = Date.now();
  const quiet = await waitFor(
    'the API to say stale',
    async () => {
      const r = await getJson(`${base}/api/streams/cam`);
      return r.body.state === 'stale' ? r.body : null;
    },
    5_000,
    100,
  );
  assert.ok(Date.now() - killedAt < 2_500, `stale after ${Date.now() - killedAt} ms`);
  assert.match(quiet.reason, /no frame for \d/);
  await waitFor('source_up to go 0', async () => metric(await scrape(), 'derain_source_up', { stream: 'cam' }) === 0, 15_000);
  const stale = await getJson(`${base}/api/streams/cam`);
  assert.equal(stale.body.state, 'stale');
  assert.equal(stale.body.stale, true);
  assert.ok(stale.body.reason, 'says why');
  const down = await getJson(`${base}/healthz`);
  assert.equal(down.status, 503);
  assert.equal(down.body.streams.cam.state, 'stale');
  const readBefore = reader.frames();
  const wsBefore = headers.length;
  await sleep(2500);
  assert.ok(reader.frames() - readBefore >= 12, `the RTSP output kept playing while the camera was down (${reader.frames() - readBefore} frames in 2.5 s)`);
  const repeats = headers.slice(wsBefore);
  assert.ok(repeats.length >= 12 && repeats.every((h) => h.stale), `stale repeats on the WebSocket: ${repeats.length}`);
  assert.equal(new Set(repeats.map((h) => h.seq)).size, 1, 'a repeat is the last good frame');

  // It comes back: live again, the reconnections counted, fresh frames.
  camera = startCamera(clip, cams.publishUrl('cam'));
  await waitFor('source_up to go 1', async () => metric(await scrape(), 'derain_source_up', { stream: 'cam' }) === 1, 30_000);
  text = await scrape();
  assert.ok(metric(text, 'derain_source_reconnects_total', { stream: 'cam' })! > reconnectsBefore, 'reconnects counted');
  const back = headers.length;
  await waitFor('fresh frames on the WebSocket', () => headers.slice(back).some((h) => !h.stale), 15_000);
  assert.equal((await getJson(`${base}/api/streams/cam`)).body.state, 'live');
  assert.equal((await getJson(`${base}/healthz`)).status, 200);
  assert.ok(reader.frames() > readBefore + 12, 'the RTSP reader never had to reconnect');

  // The camera's password is nowhere: not in the API, the metrics or the logs.
  const api = JSON.stringify((await getJson(`${base}/api/streams`)).body);
  assert.ok(api.includes('127.0.0.1'), 'the API does show the camera');
  for (const [what, body] of [
    ['/api/streams', api],
    ['/metrics', await scrape()],
    ['the log', logs.join('\n')],
  ] as const) {
    assert.ok(!body.includes(PASSWORD) && !body.includes('viewer:'), `no credentials in ${what}`);
  }

  const t0 = Date.now();
  await svc.close();
  assert.ok(Date.now() - t0 < 5000, `closed in ${Date.now() - t0} ms`);
});
