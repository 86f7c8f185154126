// `derain serve` as a user runs it: no config (the demo), a recording config, bad input; and
// shutdown on SIGTERM/SIGINT within 5 s with a playable recording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { countFrames, derain, tmpDir } from '../helpers.ts';
import { freePort, getJson, metric, readRtsp, rtpBase, serveProcess, waitFor } from './live-helpers.ts';

test('no config: the demo stream is healthy within 15 s, on /metrics, and readable over RTSP; SIGTERM stops it within 5 s', { timeout: 90_000 }, async () => {
  const dir = tmpDir();
  const rtspPort = await freePort();
  // (the small built-in model: the test is about the service, not a model's speed)
  const svc = serveProcess(['--port', '0', '--rtsp-port', String(rtspPort)], { DERAIN_DEFAULT_MODEL: 'builtin-tiny' });
  const base = await svc.base();
  const t0 = Date.now();
  await waitFor('/healthz 200', async () => (await getJson(`${base}/healthz`)).status === 200, 15_000);
  const text = await (await fetch(`${base}/metrics`)).text();
  assert.match(text, /^derain_frames_processed_total\{stream="demo"\} \d+/m);
  assert.ok(Date.now() - t0 < 15_000);
  const got = await readRtsp(`rtsp://127.0.0.1:${rtspPort}/demo`, 25, path.join(dir, 'demo.mp4'));
  assert.deepEqual(got, { frames: 25, width: 640, height: 360 });
  const { code, ms } = await svc.signal('SIGTERM');
  assert.equal(code, 0, svc.stderr());
  assert.ok(ms < 5000, `exited in ${ms} ms`);
  assert.match(svc.stderr(), /SIGTERM: shutting down/);
  assert.match(svc.stderr(), /stopped/);
});

test('recording to segmented MP4: SIGINT finishes the file, and it plays', { timeout: 90_000 }, async () => {
  const dir = tmpDir();
  const cfg = path.join(dir, 'serve.yaml');
  writeFileSync(
    cfg,
    [
      'server: { port: 0 }',
      `rtsp: { port: 0, rtpPortStart: ${rtpBase()}, rtpPortCount: 20 }`,
      'streams:',
      '  - id: yard',
      '    url: demo://rain?size=320x180&fps=10',
      '    model: builtin-tiny',
      '    outputs: { rtsp: false, ws: false, record: { dir: rec, segmentSeconds: 60 } }',
      '',
    ].join('\n'),
  );
  const svc = serveProcess(['-c', cfg]);
  const base = await svc.base();
  await waitFor('frames recorded', async () => metric(await (await fetch(`${base}/metrics`)).text(), 'derain_frames_processed_total', { stream: 'yard' })! >= 20, 30_000);
  const { code, ms } = await svc.signal('SIGINT');
  assert.equal(code, 0, svc.stderr());
  assert.ok(ms < 5000, `exited in ${ms} ms`);
  const files = readdirSync(path.join(dir, 'rec'));
  assert.equal(files.length, 1, files.join());
  assert.match(files[0], /^yard-\d{8}-\d{6}\.mp4$/);
  const rec = countFrames(path.join(dir, 'rec', files[0]));
  assert.equal(rec.width, 320);
  assert.equal(rec.height, 180);
  assert.ok(rec.frames >= 15, `a playable recording: ${rec.frames} frames`);
});

test('bad configs and taken ports: one line on stderr, exit 2', { timeout: 60_000 }, async () => {
  const dir = tmpDir();
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'streams:\n  - id: cam\n    url: rtsp://cam/1\n  - id: cam\n    url: rtsp://cam/2\n    colour: red\n');
  let r = await derain(['serve', '-c', bad]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /streams\[1\]\.id: duplicate stream id "cam"/);
  assert.match(r.stderr, /streams\[1\]\.colour: unknown field/);

  r = await derain(['serve', '-c', path.join(dir, 'none.yaml')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /config file not found/);

  const taken = createServer();
  await new Promise<void>((res) => taken.listen(0, '127.0.0.1', () => res()));
  const port = (taken.address() as { port: number }).port;
  try {
    r = await derain(['serve', '--port', String(port), '--rtsp-port', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^derain: error: server\\.port ${port} is already in use`, 'm'));
  } finally {
    taken.close();
  }
});
