// The detector client example against a real `derain serve` (the built-in demo camera, the
// built-in tiny model, a token): JSON lines with seq, pts and capture time, and one clear line
// when the token or the stream is wrong. The example imports the built package (dist/), as a
// user's program would: dist/ is rebuilt first when the sources it uses are newer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, tmpDir } from '../helpers.ts';
import { freePort, serveProcess, waitFor } from '../serve/live-helpers.ts';

const YOLOX = path.resolve(ROOT, '..', 'shared', 'models', 'yolox-nano', 'yolox_nano.onnx');
const CLIENT = path.join(ROOT, 'examples', 'detector-client', 'index.js');
const TOKEN = 'detector-client-test-token';

/** dist/ must hold what the example imports, built from the sources as they are now. */
function ensureDistFresh(): void {
  const built = path.join(ROOT, 'dist', 'detect', 'index.js');
  const mtime = (p: string) => (existsSync(p) ? statSync(p).mtimeMs : 0);
  const sources = ['detect', 'protocol', 'infer'].flatMap((d) =>
    readdirSync(path.join(ROOT, 'src', d), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => path.join(ROOT, 'src', d, f)),
  );
  if (Math.max(...sources.map(mtime)) <= mtime(built)) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  // (a type error elsewhere in the tree still emits JavaScript: what counts is that it was written)
  assert.ok(mtime(built) >= Math.max(...sources.map(mtime)), `dist/ was not rebuilt: ${r.stdout}${r.stderr}`);
}

/** The example as a user starts it; resolves with its exit code and output (a hang is killed and fails the test). */
function client(args: string[], timeoutMs = 90_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [CLIENT, ...args], { cwd: ROOT, timeout: timeoutMs, env: { ...process.env, DERAIN_TOKEN: '' } }, (err, stdout, stderr) => {
      if (err?.killed) return reject(new Error(`the client hung (killed after ${timeoutMs} ms)\n${stderr}`));
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    }),
  );
}

test('detector client on a real derain serve: JSON lines of detections with seq, pts and capture time; a missing token or stream in one line', { timeout: 180_000 }, async () => {
  assert.ok(existsSync(YOLOX), `the detector is missing: ${YOLOX} (this test needs ../shared/models)`);
  ensureDistFresh();
  const dir = tmpDir();
  const port = await freePort();
  const cfg = path.join(dir, 'serve.yaml');
  writeFileSync(
    cfg,
    [`server: { port: ${port}, token: ${TOKEN} }`, 'rtsp: { enabled: false }', 'streams:', '  - { id: cam, url: "demo://rain?size=320x180&fps=10", model: builtin-tiny }', ''].join('\n'),
  );
  const serve = serveProcess(['-c', cfg]);
  const base = await serve.base();
  await waitFor('the camera to be live', async () => (await fetch(`${base}/healthz`)).status === 200, 30_000);
  const url = `ws://127.0.0.1:${port}/ws/cam`;

  const started = Date.now();
  const r = await client(['--url', url, '--detector', YOLOX, '--token', TOKEN, '--frames', '6', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 6, r.stdout);
  let last = -1;
  for (const l of lines) {
    assert.deepEqual(Object.keys(l), ['seq', 'pts', 'capturedAt', 'detectedAt', 'latencyMs', 'detectMs', 'detections']);
    assert.ok(Number.isInteger(l.seq) && l.seq > last, `seq rises: ${l.seq} after ${last}`);
    last = l.seq;
    assert.ok(l.pts >= 0 && l.capturedAt >= started - 60_000 && l.capturedAt <= l.detectedAt, JSON.stringify(l));
    assert.equal(l.latencyMs, Math.round((l.detectedAt - l.capturedAt) * 10) / 10);
    assert.ok(Array.isArray(l.detections));
    for (const d of l.detections) assert.ok(['car', 'motorcycle', 'bus', 'truck'].includes(d.label) && d.box.length === 4 && d.score >= 0.3, JSON.stringify(d));
  }
  assert.match(r.stderr, /cam 320x180 @ 10 fps \(derained frames\); detector yolox_nano on cpu: car, motorcycle, bus, truck/);
  const summary = JSON.parse(/summary (\{.*\})/.exec(r.stderr)![1]);
  assert.equal(summary.detected, 6);
  assert.ok(summary.latencyMs.p50 > 0 && typeof summary.gaps === 'number' && typeof summary.skipped === 'number', JSON.stringify(summary));

  const noToken = await client(['--url', url, '--detector', YOLOX, '--frames', '1'], 30_000);
  assert.equal(noToken.code, 2, noToken.stderr);
  assert.equal(noToken.stderr.trim(), `detector-client: ws://127.0.0.1:${port}/ws/cam: HTTP 401: the server wants a token (--token or DERAIN_TOKEN)`);
  const noStream = await client(['--url', `ws://127.0.0.1:${port}/ws/nope`, '--token', TOKEN, '--frames', '1'], 30_000);
  assert.equal(noStream.code, 2, noStream.stderr);
  assert.match(noStream.stderr.trim(), /^detector-client: ws:\/\/127\.0\.0\.1:\d+\/ws\/nope: HTTP 404: no such stream$/);
  const jpeg = await client(['--url', `${url}?format=jpeg`, '--frames', '1'], 30_000);
  assert.equal(jpeg.code, 2);
  assert.match(jpeg.stderr, /needs format=rgb24/);
  assert.equal((await serve.signal('SIGTERM')).code, 0);
});
