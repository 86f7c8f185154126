// The serve config: YAML, ${ENV}, the schema, and errors that name the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { demoConfig, loadConfig } from '../../src/serve/config.ts';
import { UserError } from '../../src/errors.ts';
import { ROOT, tmpDir } from '../helpers.ts';

const dir = tmpDir();
let n = 0;
function configFile(text: string): string {
  const file = path.join(dir, `c${n++}.yaml`);
  writeFileSync(file, text);
  return file;
}

function loadError(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig(configFile(text), env);
  } catch (err) {
    assert.ok(err instanceof UserError, `a UserError, got ${(err as Error).stack}`);
    assert.equal(err.exitCode, 2);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return err.message;
  }
  assert.fail('the config was accepted');
}

test('a full config resolves, with ${ENV} substitution, defaults and per-stream overrides', () => {
  const file = configFile(`
server:
  host: 0.0.0.0
  port: \${HTTP_PORT}
  token: \${DERAIN_TOKEN}
rtsp:
  port: 9554
defaults:
  model: builtin-tiny
  smooth: 0.4
  transport: udp
  outputs: { ws: false }
streams:
  - id: gate-1
    url: rtsp://admin:\${CAM_PASS}@10.0.0.5:554/stream1
    inferSize: 320x180
  - id: demo
    url: demo://rain?size=320x180&fps=10
    smooth: 0
    transport: tcp
    outputs: { ws: true, rtsp: false }
`);
  const cfg = loadConfig(file, { HTTP_PORT: '9080', DERAIN_TOKEN: 's3cret', CAM_PASS: 'p@ss' });
  assert.deepEqual(cfg.server, { host: '0.0.0.0', port: 9080, token: 's3cret' });
  assert.deepEqual(cfg.rtsp, { kind: 'embedded', host: '127.0.0.1', port: 9554, rtpPortStart: 30000, rtpPortCount: 1000 });
  const [cam, demo] = cfg.streams;
  assert.equal(cam.url, 'rtsp://admin:p@ss@10.0.0.5:554/stream1');
  assert.ok(!cam.display.includes('p@ss') && !cam.display.includes('admin'), cam.display);
  assert.equal(cam.kind, 'rtsp');
  assert.equal(cam.transport, 'udp');
  assert.equal(cam.smooth, 0.4);
  assert.deepEqual(cam.inferSize, { width: 320, height: 180 });
  assert.deepEqual(cam.outputs, { rtsp: true, ws: false, record: null });
  assert.equal(demo.kind, 'demo');
  assert.deepEqual(demo.demo, { width: 320, height: 180, fps: 10 });
  assert.equal(demo.smooth, 0);
  assert.equal(demo.transport, 'tcp');
  assert.deepEqual(demo.outputs, { rtsp: false, ws: true, record: null });
});

test('no config: one demo stream on loopback', () => {
  const cfg = demoConfig();
  assert.equal(cfg.server.host, '127.0.0.1');
  assert.equal(cfg.server.port, 8080);
  assert.equal(cfg.rtsp.kind === 'embedded' && cfg.rtsp.host, '127.0.0.1');
  assert.deepEqual(
    cfg.streams.map((s) => [s.id, s.kind]),
    [['demo', 'demo']],
  );
});

test('an external RTSP server replaces the embedded one', () => {
  const cfg = loadConfig(configFile('rtsp: { publishUrl: "rtsp://u:pw@mediamtx:8554/" }\nstreams: [{ id: a, url: "demo://rain" }]\n'), {});
  assert.deepEqual(cfg.rtsp, { kind: 'external', url: 'rtsp://u:pw@mediamtx:8554', transport: 'tcp' });
});

test('invalid YAML: the file, line and column', () => {
  const msg = loadError('streams:\n  - id: a\n    url: [unclosed\n');
  assert.match(msg, /c\d+\.yaml:\d+:\d+: invalid YAML/);
});

test('an unknown field is named by its path', () => {
  assert.match(loadError('streams:\n  - id: a\n    url: demo://rain\n    colour: red\n'), /streams\[0\]\.colour: unknown field/);
  assert.match(loadError('server: { prot: 80 }\nstreams: [{ id: a, url: "demo://rain" }]\n'), /server\.prot: unknown field/);
});

test('duplicate stream ids', () => {
  assert.match(loadError('streams:\n  - { id: cam, url: "demo://rain" }\n  - { id: cam, url: "demo://rain" }\n'), /streams\[1\]\.id: duplicate stream id "cam" \(also streams\[0\]\.id\)/);
});

test('wrong types and missing fields name the field', () => {
  assert.match(loadError('server: { port: eighty }\nstreams: [{ id: a, url: "demo://rain" }]\n'), /server\.port: /);
  assert.match(loadError('streams:\n  - id: a\n'), /streams\[0\]\.url: missing/);
  assert.match(loadError('streams:\n  - id: a\n    url: demo://rain\n  - id: b\n    url: demo://rain\n    inferSize: big\n'), /streams\[1\]\.inferSize: expected WIDTHxHEIGHT/);
  assert.match(loadError('streams:\n  - { id: "a b", url: "demo://rain" }\n'), /streams\[0\]\.id: /);
  assert.match(loadError('streams: []\n'), /streams: at least one stream/);
  assert.match(loadError('streams:\n  - { id: a, url: "demo://rain", smooth: 2 }\n'), /streams\[0\]\.smooth: /);
  assert.match(loadError('streams:\n  - { id: a, url: "demo://rain?size=big" }\n'), /streams\[0\]\.url: .*demo parameter/);
  assert.match(loadError('streams:\n  - { id: a, url: "missing-clip.mp4" }\n'), /streams\[0\]\.url: file not found/);
});

test('an unset environment variable names the variable and the field', () => {
  assert.match(loadError('streams:\n  - id: a\n    url: rtsp://admin:${CAM_PASS}@cam/1\n'), /streams\[0\]\.url: environment variable CAM_PASS is not set/);
  const cfg = loadConfig(configFile('streams:\n  - id: a\n    url: rtsp://cam/${CAM_PATH:-live}\n'), {});
  assert.equal(cfg.streams[0].url, 'rtsp://cam/live');
});

test('a missing config file', () => {
  assert.throws(() => loadConfig(path.join(dir, 'nope.yaml')), /config file not found/);
});

test('the example configs load', () => {
  const examples = path.join(ROOT, 'examples');
  const full = loadConfig(path.join(examples, 'serve.yaml'), { DERAIN_TOKEN: 't', GATE_NORTH_PASSWORD: 'n', GATE_SOUTH_PASSWORD: 's' });
  assert.deepEqual(
    full.streams.map((s) => s.id),
    ['gate-north', 'gate-south'],
  );
  assert.equal(full.streams[0].outputs.record === null, false);
  assert.match(loadError(readFileSync(path.join(examples, 'serve.yaml'), 'utf8')), /environment variable DERAIN_TOKEN is not set/);
  const two = loadConfig(path.join(examples, 'two-streams.yaml'), {});
  assert.deepEqual(
    two.streams.map((s) => [s.id, s.kind]),
    [
      ['demo', 'demo'],
      ['traffic', 'file'],
    ],
  );
});

test('a value of the wrong type says what was expected, not "missing"', () => {
  const one = (extra: string) => loadError(`streams:\n  - { id: a, url: "demo://rain", ${extra} }\n`);
  assert.match(loadError('server: { port: "abc" }\nstreams: [{ id: a, url: "demo://rain" }]\n'), /server\.port: must be a number \(got "abc"\)/);
  assert.match(one('smooth: high'), /streams\[0\]\.smooth: must be a number \(got "high"\)/);
  assert.match(one('inferSize: 0x0'), /streams\[0\]\.inferSize: expected WIDTHxHEIGHT.*got 0.*quote it in YAML/);
  assert.match(one('inferSize: "0x0"'), /streams\[0\]\.inferSize: expected WIDTHxHEIGHT/);
  assert.match(one('ep: gpu'), /streams\[0\]\.ep: must be one of "auto", "tensorrt", "cuda", "cpu" \(got "gpu"\)/);
  assert.match(one('outputs: { ws: maybe }'), /streams\[0\]\.outputs\.ws: must be true or false \(got "maybe"\)/);
  for (const msg of [one('smooth: high'), one('inferSize: 0x0')]) assert.doesNotMatch(msg, /missing/);
});

test('serve refuses at start what derain run refuses: a model that cannot be read, a provider not installed, a size larger than the camera', () => {
  const bad = path.join(dir, 'not-a-model.onnx');
  writeFileSync(bad, 'this is not onnx');
  const one = (extra: string) => loadError(`streams:\n  - { id: a, url: "demo://rain?size=320x180", model: builtin-tiny, ${extra} }\n`);
  assert.match(loadError(`streams:\n  - { id: a, url: "demo://rain", model: "${bad}" }\n`), /streams\[0\]\.model: .*not-a-model\.onnx is not an ONNX model/);
  assert.match(loadError('streams:\n  - { id: a, url: "demo://rain", model: no-such-model }\n'), /streams\[0\]\.model: unknown model "no-such-model"/);
  assert.match(one('ep: cuda'), /streams\[0\]\.ep: execution provider cuda is not available/);
  assert.match(one('inferSize: 640x360'), /streams\[0\]\.inferSize: inference size 640x360 is larger than the input 320x180/);
  assert.doesNotThrow(() => loadConfig(configFile('streams:\n  - { id: a, url: "demo://rain?size=320x180", model: builtin-tiny, inferSize: 160x90 }\n'), {}));
});

test('firstFrameTimeout and server.allowedOrigins are read; a token of the wrong type is not echoed', () => {
  const cfg = loadConfig(
    configFile(
      'server: { allowedOrigins: ["https://wall.example"] }\ndefaults: { firstFrameTimeout: 45 }\nstreams:\n  - { id: a, url: "demo://rain", model: builtin-tiny }\n  - { id: b, url: "demo://rain", model: builtin-tiny, firstFrameTimeout: 5 }\n',
    ),
    {},
  );
  assert.deepEqual(cfg.server.allowedOrigins, ['https://wall.example']);
  assert.deepEqual(
    cfg.streams.map((s) => s.firstFrameTimeoutMs),
    [45_000, 5_000],
  );
  assert.equal(loadConfig(configFile('streams:\n  - { id: a, url: "demo://rain", model: builtin-tiny }\n'), {}).streams[0].firstFrameTimeoutMs, 30_000);
  const msg = loadError('server: { token: 918273645 }\nstreams: [{ id: a, url: "demo://rain" }]\n');
  assert.match(msg, /server\.token: /);
  assert.doesNotMatch(msg, /918273645/);
});
