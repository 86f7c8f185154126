// The HTTP side of `serve` with real requests and real WebSocket clients: the token, snapshots,
// JPEG and raw frames, two streams on one session, an unreachable camera, taken ports.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import WebSocket from 'ws';
import { resolveConfig } from '../../src/serve/config.ts';
import { startServe, type ServeHandle } from '../../src/serve/serve.ts';
import { decodeFrame } from '../../src/egress/ws/frame-header.ts';
import { freePort, getJson, rtpBase, waitFor } from './live-helpers.ts';
import path from 'node:path';
import { makeClip, tmpDir } from '../helpers.ts';

const TOKEN = 'tok-123';
let svc: ServeHandle;
let closedPort: number;
const logs: string[] = [];

before(async () => {
  closedPort = await freePort();
  const bigClip = path.join(tmpDir(), 'cam.mkv');
  makeClip(bigClip, { width: 160, height: 96, frames: 20, fps: 8 });
  const config = resolveConfig(
    {
      server: { port: 0, token: TOKEN },
      rtsp: { enabled: false },
      defaults: { model: 'builtin-tiny', connectTimeout: 2, backoffInitial: 0.2, backoffMax: 0.5 },
      streams: [
        { id: 'a', url: 'demo://rain?size=160x96&fps=8' },
        { id: 'b', url: 'demo://rain?size=160x96&fps=8', smooth: 0 },
        { id: 'gone', url: `rtsp://admin:pw-xyz@127.0.0.1:${closedPort}/live` },
        // a file stands in for a camera: its size is known only when it plays (a demo's size is
        // known at load, and serve refuses that config at start)
        { id: 'big', url: bigClip, inferSize: '320x200' },
      ],
    },
    'test',
    process.cwd(),
  );
  svc = await startServe(config, { log: (m) => logs.push(m) });
  await waitFor(
    'streams a and b to be live',
    async () => {
      const r = await getJson(`${svc.httpUrl}/healthz`);
      return r.body.streams.a.state === 'live' && r.body.streams.b.state === 'live';
    },
    30_000,
  );
});

after(async () => {
  await svc?.close();
});

const auth = { authorization: `Bearer ${TOKEN}` };

function wsUrl(path: string): string {
  return `${svc.httpUrl.replace('http', 'ws')}${path}`;
}

interface Opened {
  ws?: WebSocket;
  status?: number;
  /** text messages (JSON) and frames, collected from the first */
  hello?: () => any;
  frames?: () => ReturnType<typeof decodeFrame>[];
}

/** Opens a WebSocket; resolves with the HTTP status it was refused with, or the open socket. */
function openWs(path: string, headers: Record<string, string> = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(path), { headers });
    let hello: any = null;
    const got: ReturnType<typeof decodeFrame>[] = [];
    ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) hello ??= JSON.parse(data.toString());
      else got.push(decodeFrame(data));
    });
    ws.once('open', () => resolve({ ws, hello: () => hello, frames: () => got }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
    ws.once('error', reject);
  });
}

async function frames(o: Opened, n: number): Promise<{ hello: any; frames: ReturnType<typeof decodeFrame>[] }> {
  await waitFor(`${n} frames`, () => o.frames!().length >= n, 15_000, 50);
  o.ws!.close();
  return { hello: o.hello!(), frames: o.frames!().slice(0, n) };
}

test('with a token: the API, snapshots and WebSocket need it; /healthz and /metrics stay open', async () => {
  const base = svc.httpUrl;
  assert.equal((await getJson(`${base}/api/streams`)).status, 401);
  assert.equal((await getJson(`${base}/api/streams`, { authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await getJson(`${base}/api/streams/a/snapshot.jpg`)).status, 401);
  assert.equal((await getJson(`${base}/api/streams`, auth)).status, 200);
  assert.equal((await getJson(`${base}/api/streams?token=${TOKEN}`)).status, 200);
  assert.equal((await openWs('/ws/a')).status, 401);
  const ok = await openWs(`/ws/a?token=${TOKEN}`);
  assert.ok(ok.ws);
  ok.ws.close();
  assert.equal((await getJson(`${base}/healthz`)).status, 503, 'open (and unhealthy: one camera is unreachable)');
  assert.equal((await fetch(`${base}/metrics`)).status, 200);
  assert.equal((await getJson(`${base}/nothing`, auth)).status, 404);
  assert.equal((await getJson(`${base}/api/streams/zzz`, auth)).status, 404);
});

test('/api/streams: state, model, execution provider, figures; /healthz names the unreachable camera', async () => {
  const { body } = await getJson(`${svc.httpUrl}/api/streams`, auth);
  const byId = Object.fromEntries(body.streams.map((s: any) => [s.id, s]));
  const a = byId.a;
  assert.equal(a.state, 'live');
  assert.equal(a.model, 'builtin-tiny');
  assert.equal(a.ep, 'cpu');
  assert.deepEqual([a.width, a.height, a.sourceFps], [160, 96, 8]);
  assert.equal(a.decodeEvery, 1, 'taken as fast as it sends: every frame converted');
  assert.ok(a.framesProcessed > 0 && a.framesIngested >= a.framesProcessed);
  assert.ok(a.fps > 0 && a.e2eMs.p50 > 0 && a.inferenceMs.p50 > 0);
  assert.deepEqual(a.outputs, { rtsp: null, ws: '/ws/a', record: null });
  const gone = byId.gone;
  assert.equal(gone.state, 'connecting');
  assert.match(gone.reason, /refused/i);
  assert.ok(gone.reconnects >= 1, 'keeps retrying');
  assert.ok(!JSON.stringify(body).includes('pw-xyz'), 'no camera password in the API');
  const health = await getJson(`${svc.httpUrl}/healthz`);
  assert.equal(health.status, 503);
  // alive all the same: /livez is for restarting a stuck process, not for a camera that is down
  const live = await getJson(`${svc.httpUrl}/livez`);
  assert.equal(live.status, 200);
  assert.equal(live.body.status, 'alive');
  assert.equal(health.body.streams.gone.state, 'connecting');
  assert.match(health.body.streams.gone.reason, /cannot open rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/live: .*refused/i);
  assert.ok(!logs.join('\n').includes('pw-xyz'), 'no camera password in the log');
  // a stream that cannot run says why, and the others go on
  assert.equal(byId.big.state, 'failed');
  assert.match(byId.big.reason, /inference size 320x200 is larger than the input 160x96/);
  assert.equal(health.body.streams.big.state, 'failed');
  // two streams of the same model and size share one session
  assert.equal(svc.manager.pool.size, 1);
});

test('snapshots: derained and raw JPEGs of the stream size', async () => {
  for (const q of ['', '?raw=1']) {
    const res = await fetch(`${svc.httpUrl}/api/streams/a/snapshot.jpg${q}`, { headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    const jpg = Buffer.from(await res.arrayBuffer());
    assert.deepEqual([...jpg.subarray(0, 2)], [0xff, 0xd8]);
    // the frame size is in the SOF0 marker
    const sof = jpg.indexOf(Buffer.from([0xff, 0xc0]));
    assert.deepEqual([jpg.readUInt16BE(sof + 7), jpg.readUInt16BE(sof + 5)], [160, 96]);
  }
  assert.equal((await fetch(`${svc.httpUrl}/api/streams/gone/snapshot.jpg`, { headers: auth })).status, 503, 'no frame yet');
});

test('WebSocket: JPEG and rgb24 frames behind the header, derained or raw', async () => {
  const jpeg = await frames(await openWs('/ws/a?format=jpeg', auth), 3);
  assert.equal(jpeg.hello.format, 'jpeg');
  assert.equal(jpeg.hello.raw, false);
  for (const f of jpeg.frames) {
    assert.equal(f.header.format, 'jpeg');
    assert.deepEqual([f.header.width, f.header.height], [160, 96]);
    assert.deepEqual([...f.payload.subarray(0, 2)], [0xff, 0xd8]);
    assert.deepEqual([...f.payload.subarray(-2)], [0xff, 0xd9]);
  }
  const raw = await frames(await openWs('/ws/b?format=rgb24&raw=1', auth), 3);
  assert.equal(raw.hello.raw, true);
  assert.ok(raw.frames.every((f) => f.header.format === 'rgb24' && f.payload.length === 160 * 96 * 3));
  assert.equal((await openWs('/ws/a?format=png', auth)).status, 400);
  assert.equal((await openWs('/ws/zzz', auth)).status, 404);
  assert.equal((await openWs('/ws/%E0%A4%A', auth)).status, 404, 'bad percent-encoding');
  assert.equal((await getJson(`${svc.httpUrl}/api/streams/%E0%A4%A`, auth)).status, 404);
});

test('a port already in use: one clear error naming it', async () => {
  const taken: Server = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as { port: number }).port;
  try {
    const one = (extra: object) => startServe(resolveConfig({ ...extra, streams: [{ id: 'x', url: 'demo://rain?size=64x48' }] }, 'test', process.cwd()), { log: () => {} });
    await assert.rejects(one({ server: { port }, rtsp: { enabled: false } }), new RegExp(`server\\.port ${port} is already in use`));
    await assert.rejects(one({ server: { port: 0 }, rtsp: { port, rtpPortStart: rtpBase() } }), new RegExp(`rtsp\\.port 127\\.0\\.0\\.1:${port} is already in use`));
  } finally {
    taken.close();
  }
});
