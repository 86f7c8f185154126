// The malformed-input corpus (issue 17, item 3): every bad input a user or a network can hand
// derain, what it must answer, as data. files/urls/configs/models.test.ts run the CLI cases
// (run-case.ts says what "one clear error" is checked as); http.test.ts and the serve part of
// urls.test.ts have their own tables. README.md "Malformed input" lists them all, by name
// (readme.test.ts holds the two together).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { countFrames } from '../helpers.ts';
import { DataType, onnx } from '../../src/infer/onnx-proto.ts';
import { FRAMES, H, W, dims, inputType, type Materials } from './media.ts';
import type { CliCase } from './run-case.ts';

const run = (input: string, out: string, ...more: string[]) => ['run', input, '-o', out, ...more];

/** The output of a run that failed part way: the frames done are kept, under an .incomplete name. */
function keptFrames(outDir: string, min: number, max: number): void {
  const kept = path.join(outDir, 'out.incomplete.mp4');
  assert.ok(existsSync(kept), 'the frames done are kept');
  const { frames } = countFrames(kept);
  assert.ok(frames >= min && frames <= max, `${frames} frames kept, expected ${min}..${max}`);
}

function framesOut(outDir: string, want: number): void {
  assert.equal(countFrames(path.join(outDir, 'out.mp4')).frames, want);
}

export const FILE_CASES: CliCase<Materials>[] = [
  { name: 'missing file', args: (m, out) => run(m.path('nope.mp4'), out), code: 2, message: /input not found: .*nope\.mp4/ },
  { name: 'zero-byte file', args: (m, out) => run(m.write('zero.mp4', ''), out), code: 2, message: /zero\.mp4 is empty \(0 bytes\)/ },
  { name: 'a text file named .mp4', args: (m, out) => run(m.write('text.mp4', 'this is not a video\n'.repeat(20)), out), code: 2, message: /text\.mp4 is not a readable video/ },
  {
    name: 'truncated MP4, its index (moov at the end) lost',
    args: (m, out) =>
      run(
        m.cut('trunc.mp4', 0.5, (f) => m.encode(path.basename(f), ['-c:v', 'libx264'])),
        out,
      ),
    code: 2,
    message: /trunc\.mp4 is not a readable video: moov atom not found/,
  },
  {
    name: 'truncated MP4 with its index first (faststart): the frames before the cut',
    // (every frame a keyframe: each one before the cut decodes)
    args: (m, out) =>
      run(
        m.cut('cut-fast.mp4', 0.6, (f) => m.encode(path.basename(f), ['-c:v', 'libx264', '-g', '1', '-movflags', '+faststart'])),
        out,
        '--json',
      ),
    code: 1,
    message: /the input ended early: \d+ of the 10 frames it declares could be decoded .*kept in .*out\.incomplete\.mp4/,
    keeps: /^out\.incomplete\.mp4$/,
    after: (_m, r, outDir) => {
      assert.equal(r.stdout, '', 'no JSON summary for a failed run');
      keptFrames(outDir, 1, FRAMES - 1);
    },
  },
  {
    name: 'truncated MP4 cut inside its first frame',
    args: (m, out) =>
      run(
        m.cut('cut-first.mp4', 0.6, (f) => m.encode(path.basename(f), ['-c:v', 'libx264', '-movflags', '+faststart'], 3)),
        out,
      ),
    code: 2,
    message: /cut-first\.mp4 holds no frame that can be decoded \(ffmpeg: .+\)/,
  },
  {
    name: 'truncated MKV: its header declares the whole duration',
    args: (m, out) =>
      run(
        m.cut('trunc.mkv', 0.5, (f) => m.encode(path.basename(f), ['-c:v', 'ffv1'])),
        out,
      ),
    code: 1,
    message: /the input ended early: \d of the 10 frames it declares could be decoded \(truncated or corrupt file; ffmpeg: .*\).*kept in .*out\.incomplete\.mp4/,
    keeps: /^out\.incomplete\.mp4$/,
    after: (_m, _r, outDir) => keptFrames(outDir, 1, FRAMES - 1),
  },
  {
    name: 'MKV cut inside its header',
    args: (m, out) =>
      run(
        m.cut('head.mkv', 0.03, (f) => m.encode(path.basename(f), ['-c:v', 'ffv1'])),
        out,
      ),
    code: 2,
    message: /head\.mkv is not a readable video/,
  },
  {
    name: 'audio only',
    args: (m, out) => run(m.audio('audio.m4a'), out),
    code: 2,
    message: /audio\.m4a is not a readable video: it has no video stream/,
  },
  {
    name: 'declared size 0x0',
    args: (m, out) => run(m.y4m('zero-size.y4m', { width: 0, height: 0, rate: '25:1', frameBytes: 64 }), out),
    code: 2,
    message: /zero-size\.y4m is not a readable video: Picture size 0x0 is invalid/,
  },
  {
    name: 'declared size 20000x20000',
    args: (m, out) => run(m.y4m('huge.y4m', { width: 20000, height: 20000, rate: '25:1', frames: 1, frameBytes: 1000 }), out),
    code: 2,
    message: /huge\.y4m is not a readable video: Picture size 20000x20000 is invalid/,
  },
  {
    name: 'declared size 10000x10000 (ffmpeg would take it)',
    args: (m, out) => run(m.y4m('big.y4m', { width: 10000, height: 10000, rate: '25:1', frames: 1, frameBytes: 1000 }), out),
    code: 2,
    message: /big\.y4m: its frames are 10000x10000 \(100 Mpx\), more than derain takes \(64 Mpx, such as 8192x8192\)/,
  },
  {
    name: 'a file cut inside its only frame',
    args: (m, out) => run(m.y4m('short.y4m', { width: W, height: H, rate: '25:1', frames: 1, frameBytes: 1000 }), out),
    code: 2,
    message: /short\.y4m holds no frame that can be decoded/,
  },
  {
    name: 'absurd frame rate: 1000000 fps',
    args: (m, out) => run(m.y4m('fast.y4m', { width: W, height: H, rate: '1000000:1' }), out),
    code: 0,
    message: /note: the declared frame rate 1000000\/1 is not plausible: 25 fps used \(set --fps\)/,
    after: (_m, _r, outDir) => framesOut(outDir, 5),
  },
  {
    name: 'absurd frame rate: one frame per 10^6 s',
    args: (m, out) => run(m.y4m('slow.y4m', { width: W, height: H, rate: '1:1000000' }), out),
    code: 0,
    message: /note: the declared frame rate 1\/1000000 is not plausible: 25 fps used/,
    after: (_m, _r, outDir) => framesOut(outDir, 5),
  },
  {
    name: 'corrupt frames in the middle (MJPEG): every frame out, the damage said',
    args: (m, out) => {
      const p = m.encode('mjpeg.mkv', ['-c:v', 'mjpeg']);
      const bytes = readFileSync(p);
      // the sixth JPEG's entropy-coded data overwritten
      const soi = [...bytes.keys()].filter((i) => bytes[i] === 0xff && bytes[i + 1] === 0xd8)[5];
      const sos = bytes.indexOf(Buffer.from([0xff, 0xda]), soi);
      for (let i = sos + 40; i < sos + 200; i++) bytes[i] = i % 2 ? 0x00 : 0xff;
      return run(m.write('corrupt-mjpeg.mkv', bytes), out);
    },
    code: 0,
    message: /note: the decoder reported errors in the input \(.+\): frames it could not repair are damaged or missing/,
    after: (_m, _r, outDir) => framesOut(outDir, FRAMES),
  },
  {
    name: 'corrupt block in the middle of an MKV: the frames before it kept',
    args: (m, out) => {
      const bytes = readFileSync(m.encode('ffv1.mkv', ['-c:v', 'ffv1']));
      const at = Math.floor(bytes.length * 0.4);
      for (let i = at; i < at + 600; i++) bytes[i] = (i * 37) & 255;
      return run(m.write('corrupt.mkv', bytes), out);
    },
    code: 1,
    message: /the input ended early: \d of the 10 frames .*kept in .*out\.incomplete\.mp4/,
    keeps: /^out\.incomplete\.mp4$/,
    after: (_m, _r, outDir) => keptFrames(outDir, 1, FRAMES - 1),
  },
  {
    name: 'an empty image folder',
    args: (m, out) => {
      mkdirSync(m.path('empty-folder'), { recursive: true });
      return run(m.path('empty-folder'), out);
    },
    code: 2,
    message: /holds no images/,
  },
  { name: 'unsupported output extension', args: (m, out) => run(m.clip, out.replace(/\.mp4$/, '.avi')), code: 2, message: /unsupported extension "\.avi"/ },
  { name: 'output into a missing folder', args: (m) => run(m.clip, m.path('no/such/out.mp4')), code: 2, message: /output folder .* does not exist/ },
  { name: 'inference size larger than the input', args: (m, out) => run(m.clip, out, '--infer-size', '320x200'), code: 2, message: /inference size 320x200 is larger than the input 64x48/ },
  { name: 'malformed inference size', args: (m, out) => run(m.clip, out, '--infer-size', '320by200'), code: 2, message: /--infer-size "320by200" is not WIDTHxHEIGHT/ },
  { name: 'an execution provider that is not installed', args: (m, out) => run(m.clip, out, '--ep', 'tensorrt'), code: 2, message: /execution provider tensorrt is not available/ },
];

const withModel = (m: Materials, out: string, model: string) => run(m.clip, out, '--model', model);

export const MODEL_CASES: CliCase<Materials>[] = [
  {
    name: 'wrong input rank (3 dimensions)',
    args: (m, out) =>
      withModel(
        m,
        out,
        m.model('rank3.onnx', (g) => void (inputType(g).shape!.dim = dims(3, 'h', 'w'))),
      ),
    code: 2,
    message: /model rank3: its input has 3 dimensions \[3, h, w\]; a deraining model takes float32 NCHW \[1, 3, height, width\]/,
  },
  {
    name: 'NHWC input (channels last)',
    args: (m, out) =>
      withModel(
        m,
        out,
        m.model('nhwc.onnx', (g) => void (inputType(g).shape!.dim = dims(1, 'h', 'w', 3))),
      ),
    code: 2,
    message: /model nhwc: its input \[1, h, w, 3\] is channels-last \(NHWC\): export it channels-first/,
  },
  {
    name: 'dynamic batch: runs, one frame at a time',
    args: (m, out) =>
      withModel(
        m,
        out,
        m.model('dynbatch.onnx', (g) => void (inputType(g).shape!.dim![0] = dims('N')[0])),
      ),
    code: 0,
    message: /^derained 10\/10 frames/,
    after: (_m, _r, outDir) => framesOut(outDir, FRAMES),
  },
  {
    name: 'fixed batch of 4',
    args: (m, out) =>
      withModel(
        m,
        out,
        m.model('batch4.onnx', (g) => void (inputType(g).shape!.dim![0] = dims(4)[0])),
      ),
    code: 2,
    message: /model batch4: its input \[4, 3, height, width\] takes batches of 4: frames go one at a time/,
  },
  {
    name: 'integer input (int64)',
    args: (m, out) =>
      withModel(
        m,
        out,
        m.model('int64.onnx', (g) => void (inputType(g).elemType = DataType.INT64)),
      ),
    code: 2,
    message: /model int64: its input is int64 \[1, 3, height, width\]; a deraining model takes float32/,
  },
  {
    name: 'float16 input',
    args: (m, out) =>
      withModel(
        m,
        out,
        m.model('fp16.onnx', (g) => void (inputType(g).elemType = DataType.FLOAT16)),
      ),
    code: 2,
    message: /model fp16: its input is float16 /,
  },
  {
    name: 'two inputs',
    args: (m, out) =>
      withModel(
        m,
        out,
        m.model('two.onnx', (g) => {
          const input = g.graph!.input!;
          input.push(new onnx.ValueInfoProto({ ...input[0], name: 'second' }));
        }),
      ),
    code: 2,
    message: /two\.onnx: a deraining model needs exactly one image input, this one has 2/,
  },
  {
    name: 'a card pointing at a missing ONNX file',
    args: (m, out) => {
      m.write('gone/card.json', JSON.stringify({ name: 'gone', onnx: 'weights/gone.onnx', output: 'residual' }));
      return withModel(m, out, m.path('gone'));
    },
    code: 2,
    message: /model gone: ONNX file .*gone\/weights\/gone\.onnx is missing/,
  },
  {
    name: 'a card that is not JSON',
    args: (m, out) => {
      m.write('badjson/card.json', '{ "name": "x", ');
      return withModel(m, out, m.path('badjson'));
    },
    code: 2,
    message: /model card .*badjson\/card\.json is not valid JSON/,
  },
  {
    name: 'a card with a wrong field',
    args: (m, out) => {
      m.model('badfield/model.onnx');
      m.write('badfield/card.json', JSON.stringify({ name: 'x', output: 'clean' }));
      return withModel(m, out, m.path('badfield'));
    },
    code: 2,
    message: /model card .*badfield\/card\.json: "output" must be "image" or "residual"/,
  },
  {
    name: 'a model folder without a card',
    args: (m, out) => {
      m.model('nocard/model.onnx');
      return withModel(m, out, m.path('nocard'));
    },
    code: 2,
    message: /model folder .*nocard has no card\.json/,
  },
  {
    name: 'a truncated ONNX file',
    args: (m, out) =>
      withModel(
        m,
        out,
        m.cut('trunc.onnx', 0.5, (f) => m.model(path.basename(f))),
      ),
    code: 2,
    message: /trunc\.onnx is not an ONNX model \(it ends inside a field: a truncated download or copy\?/,
  },
  { name: 'an ONNX file that is not a model', args: (m, out) => withModel(m, out, m.write('junk.onnx', 'definitely not protobuf')), code: 2, message: /junk\.onnx is not an ONNX model/ },
  { name: 'unknown model name', args: (m, out) => withModel(m, out, 'no-such-model'), code: 2, message: /unknown model "no-such-model"/ },
];

/** Servers the URL cases point at (urls.test.ts starts them): each misbehaves in its own way. */
export interface UrlServers {
  /** an RTSP server that answers every request with 401 Unauthorized */
  rtsp401: number;
  /** accepts connections and never sends a byte */
  silent: number;
  /** an HTTP server that answers 404 */
  http404: number;
  /** nothing listens there */
  closed: number;
}

// (.invalid never resolves: RFC 2606)
export const NOWHERE = 'no-such-camera.invalid';
export const CAMERA_PASSWORD = 'hunter2-Zq';

export const URL_CASES: CliCase<UrlServers>[] = [
  {
    name: 'bad scheme',
    args: () => ['run', 'foo://bar/x', '-o', '-'],
    code: 2,
    message: /the scheme "foo:\/\/" is not supported \(URLs: rtsp:\/\/, rtsps:\/\/.*https:\/\//,
  },
  {
    name: 'unresolvable host',
    args: () => ['run', `rtsp://admin:${CAMERA_PASSWORD}@${NOWHERE}/live`, '-o', '-'],
    code: 2,
    message: new RegExp(`the host name "${NOWHERE}" does not resolve`),
    secrets: [CAMERA_PASSWORD],
    // (not the probe's 20 s: the name is looked up by itself at once)
    withinMs: 30_000,
  },
  {
    name: 'wrong credentials (401)',
    args: (s) => ['run', `rtsp://admin:${CAMERA_PASSWORD}@127.0.0.1:${s.rtsp401}/live`, '-o', '-'],
    code: 2,
    message: /live input rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/live cannot be opened: Server returned 401 Unauthorized .*: check the user name and password in the URL$/,
    secrets: [CAMERA_PASSWORD],
  },
  {
    name: 'a server that accepts and never sends',
    args: (s) => ['run', `rtsp://admin:${CAMERA_PASSWORD}@127.0.0.1:${s.silent}/live`, '-o', '-'],
    code: 2,
    message: /live input rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/live: no answer within 20 s/,
    secrets: [CAMERA_PASSWORD],
    withinMs: 50_000,
  },
  {
    name: 'connection refused',
    args: (s) => ['run', `rtsp://127.0.0.1:${s.closed}/live`, '-o', '-'],
    code: 2,
    message: /Connection to tcp:\/\/127\.0\.0\.1:\d+.* failed: Connection refused/,
  },
  {
    name: 'an HTTP URL that answers 404',
    args: (s) => ['run', `http://127.0.0.1:${s.http404}/clip.mp4`, '-o', '-'],
    code: 2,
    message: /live input http:\/\/127\.0\.0\.1:\d+\/clip\.mp4 cannot be opened: Server returned 404 Not Found/,
  },
  {
    name: 'a raw "/" in the password',
    args: (s) => ['run', `rtsp://admin:pa/ss-Qx@127.0.0.1:${s.rtsp401}/live`, '-o', '-'],
    code: 2,
    message: /malformed URL: .*must be percent-encoded \(%2F, %3F, %23\)/,
    secrets: ['pa/ss', 'ss-Qx'],
  },
];

/** Cameras of one `derain serve` (urls.test.ts): each goes to a state with its reason, and serve goes on. */
export interface StreamCase {
  name: string;
  url(s: UrlServers): string;
  state: RegExp;
  reason: RegExp;
}

export const SERVE_URL_CASES: StreamCase[] = [
  {
    name: 'serve: a camera that accepts and never sends',
    url: (s) => `rtsp://admin:${CAMERA_PASSWORD}@127.0.0.1:${s.silent}/live`,
    state: /^connecting$/,
    reason: /^cannot open rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/live: no answer within \d+ s$/,
  },
  {
    name: 'serve: a camera that refuses the credentials',
    url: (s) => `rtsp://admin:${CAMERA_PASSWORD}@127.0.0.1:${s.rtsp401}/live`,
    state: /^connecting$/,
    reason: /^cannot open rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/live: .*401 Unauthorized/,
  },
  {
    name: 'serve: a camera whose host name does not resolve',
    url: () => `rtsp://admin:${CAMERA_PASSWORD}@${NOWHERE}/live`,
    state: /^connecting$/,
    reason: new RegExp(`^cannot open rtsp://\\*\\*\\*@${NOWHERE.replace(/\./g, '\\.')}/live: the host name "${NOWHERE.replace(/\./g, '\\.')}" does not resolve`),
  },
];

/** What the config cases need: where to write configs, and a port something else holds. */
export interface ConfigContext {
  m: Materials;
  busyPort: number;
}

const TOKEN_NUMBER = '918273645';

/** `derain serve -c` a config of these lines (and a demo stream, and no RTSP server, unless they say otherwise). */
function serveWith(ctx: ConfigContext, name: string, yaml: string): string[] {
  const streams = /^streams:/m.test(yaml) ? '' : 'streams: [{ id: a, url: "demo://rain?size=64x48", model: builtin-tiny }]\n';
  const rtsp = /^rtsp:/m.test(yaml) ? '' : 'rtsp: { enabled: false }\n';
  return ['serve', '-c', ctx.m.write(`${name}.yaml`, `${rtsp}${yaml}\n${streams}`)];
}

export const CONFIG_CASES: CliCase<ConfigContext>[] = [
  {
    name: 'wrong type: a port that is a word',
    args: (c) => serveWith(c, 'port-word', 'server: { port: eighty }'),
    code: 2,
    message: /port-word\.yaml: server\.port: must be a number \(got "eighty"\)/,
  },
  {
    name: 'wrong type: a token that is a number, not echoed',
    args: (c) => serveWith(c, 'token-number', `server: { token: ${TOKEN_NUMBER} }`),
    code: 2,
    message: /token-number\.yaml: server\.token: /,
    secrets: [TOKEN_NUMBER],
  },
  {
    name: 'negative size: inferSize -320x180',
    args: (c) => serveWith(c, 'neg-size', 'streams: [{ id: a, url: "demo://rain", model: builtin-tiny, inferSize: "-320x180" }]'),
    code: 2,
    message: /neg-size\.yaml: streams\[0\]\.inferSize: expected WIDTHxHEIGHT/,
  },
  {
    name: 'negative length: segmentSeconds -5',
    args: (c) => serveWith(c, 'neg-seconds', 'streams: [{ id: a, url: "demo://rain", model: builtin-tiny, outputs: { record: { dir: rec, segmentSeconds: -5 } } }]'),
    code: 2,
    message: /neg-seconds\.yaml: streams\[0\]\.outputs\.record\.segmentSeconds: must be more than 0 \(got -5\)/,
  },
  {
    name: '1000 streams',
    args: (c) => serveWith(c, 'thousand', ['streams:', ...Array.from({ length: 1000 }, (_, i) => `  - { id: cam${i}, url: "rtsp://10.0.${i >> 8}.${i & 255}/live", model: builtin-tiny }`)].join('\n')),
    code: 2,
    message: /thousand\.yaml: streams: 1000 streams are more than one process serves \(at most 256\): split them with --shard I\/N over 4 or more processes/,
  },
  {
    name: 'duplicate outputs: two streams with one id (one RTSP path, one /ws path)',
    args: (c) => serveWith(c, 'dup-id', 'streams:\n  - { id: cam, url: "demo://rain", model: builtin-tiny }\n  - { id: cam, url: "demo://rain", model: builtin-tiny }'),
    code: 2,
    message: /dup-id\.yaml: streams\[1\]\.id: duplicate stream id "cam" \(also streams\[0\]\.id\)/,
  },
  {
    name: 'duplicate outputs: RTSP and HTTP on one port',
    args: (c) => serveWith(c, 'dup-port', `server: { port: ${c.busyPort} }\nrtsp: { port: ${c.busyPort} }`),
    code: 2,
    message: /dup-port\.yaml: rtsp\.port and server\.port are both \d+: the embedded RTSP server and HTTP need a port each/,
  },
  {
    name: 'unknown model',
    args: (c) => serveWith(c, 'unknown-model', 'streams: [{ id: a, url: "demo://rain", model: no-such-model }]'),
    code: 2,
    message: /unknown-model\.yaml: streams\[0\]\.model: unknown model "no-such-model"/,
  },
  {
    name: 'unknown field',
    args: (c) => serveWith(c, 'unknown-field', 'streams: [{ id: a, url: "demo://rain", model: builtin-tiny, colour: red }]'),
    code: 2,
    message: /unknown-field\.yaml: streams\[0\]\.colour: unknown field/,
  },
  { name: 'invalid YAML', args: (c) => serveWith(c, 'bad-yaml', 'streams:\n  - id: a\n    url: [unclosed'), code: 2, message: /bad-yaml\.yaml:\d+:\d+: invalid YAML/ },
  {
    name: 'an environment variable that is not set',
    args: (c) => serveWith(c, 'no-env', 'streams: [{ id: a, url: "rtsp://admin:${CORPUS_UNSET_PASSWORD}@cam/live", model: builtin-tiny }]'),
    code: 2,
    message: /no-env\.yaml: streams\[0\]\.url: environment variable CORPUS_UNSET_PASSWORD is not set/,
  },
  {
    name: 'a recording folder that is a file',
    args: (c) => serveWith(c, 'record-file', `streams: [{ id: a, url: "demo://rain", model: builtin-tiny, outputs: { record: { dir: "${c.m.clip}" } } }]`),
    code: 2,
    message: /record-file\.yaml: streams\[0\]\.outputs\.record\.dir: .*good\.mp4 is a file, not a folder/,
  },
  {
    name: 'a port that is taken',
    args: (c) => serveWith(c, 'taken', `server: { port: ${c.busyPort} }`),
    code: 2,
    message: /server\.port \d+ is already in use on 127\.0\.0\.1/,
  },
  {
    name: 'a listen address that is not this machine',
    args: (c) => serveWith(c, 'not-here', 'server: { host: 192.0.2.1, port: 0 }'),
    code: 2,
    message: /cannot listen on 192\.0\.2\.1:0: .*EADDRNOTAVAIL/,
  },
];

/** The answer to one raw HTTP exchange (http.test.ts). */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** when the server closed the connection, from the start; null: still open when we gave up */
  closedAfterMs: number | null;
}

export interface HttpContext {
  token: string;
  /** one raw exchange on a fresh connection to the service, from `from` (a loopback address: the rate limit is per address) */
  exchange(opts: { request: string | ((send: (bytes: string) => boolean) => Promise<void>); from?: string; waitMs?: number }): Promise<RawAnswer>;
}

export interface HttpCase {
  name: string;
  /** a request as a client sends it, byte for byte (`t`: the right token) */
  request: (t: string) => string;
  from?: string;
  status: number;
  body?: RegExp;
  headers?: Record<string, RegExp>;
}

export interface HttpSequence {
  name: string;
  check(ctx: HttpContext): Promise<void>;
}

const get = (target: string, ...headers: string[]) => `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`;
const upgrade = (target: string, ...headers: string[]) =>
  get(target, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', ...headers).replace('Connection: close\r\n', '');
const bearer = (t: string) => `Authorization: Bearer ${t}`;

export const HTTP_CASES: HttpCase[] = [
  {
    name: 'path traversal in the stream id of /api/streams (encoded)',
    request: (t) => get('/api/streams/..%2F..%2F..%2Fetc%2Fpasswd', bearer(t)),
    status: 404,
    body: /"no stream \\"\.\.\/\.\.\/\.\.\/etc\/passwd\\""/,
  },
  { name: 'path traversal in the stream id of /api/streams (raw dots)', request: (t) => get('/api/streams/../../../etc/passwd', bearer(t)), status: 404, body: /"nothing at \/etc\/passwd"/ },
  { name: 'path traversal in /assets/ (encoded)', request: () => get('/assets/..%2F..%2Fpackage.json'), status: 404, body: /"nothing at \/assets\/..%2F..%2Fpackage.json"/ },
  { name: 'path traversal in /assets/ (raw dots)', request: () => get('/assets/../../package.json'), status: 404, body: /"nothing at \/package\.json"/ },
  { name: 'path traversal in the stream id of /ws', request: (t) => upgrade('/ws/..%2F..%2Fetc', bearer(t)), status: 404 },
  { name: 'a malformed percent-encoding', request: (t) => get('/api/streams/%E0%A4%A', bearer(t)), status: 404, body: /no stream \\"%E0%A4%A\\"/ },
  { name: 'oversized headers (64 KiB)', request: () => get('/livez', `X-Padding: ${'a'.repeat(64 * 1024)}`), status: 431 },
  { name: 'an oversized URL (64 KiB)', request: () => get(`/livez?${'a'.repeat(64 * 1024)}`), status: 431 },
  { name: 'garbage instead of a request line', request: () => '\x00\x01\x02\x03 hello\r\n\r\n', status: 400 },
  { name: 'a method the route does not take', request: (t) => get('/api/streams', bearer(t)).replace(/^GET/, 'DELETE'), status: 405 },
  { name: 'a bad token', request: () => get('/api/streams', bearer('not-the-token')), status: 401, headers: { 'www-authenticate': /^Bearer$/ } },
  { name: 'an empty token (Bearer and nothing)', request: () => get('/api/streams', 'Authorization: Bearer '), status: 401 },
  { name: 'an empty token (?token=)', request: () => get('/api/streams?token='), status: 401 },
  { name: 'the token under another scheme (Basic)', request: (t) => get('/api/streams', `Authorization: Basic ${Buffer.from(`x:${t}`).toString('base64')}`), status: 401 },
  { name: 'a bad token on a WebSocket upgrade', request: () => upgrade('/ws/demo?token=not-the-token'), status: 401 },
  { name: 'a WebSocket upgrade from a foreign page (Origin), right token', request: (t) => upgrade(`/ws/demo?token=${t}`, 'Origin: http://evil.example'), status: 403 },
];

/** What a slow client gets: the headers must be in within 10 s (HEADERS_TIMEOUT_MS), then 408 and the connection closed. */
const SLOW_CLOSE_MS = 10_000 + 3_000;

export const HTTP_SEQUENCES: HttpSequence[] = [
  {
    name: 'a client that sends headers one byte a second (slowloris)',
    async check(ctx) {
      const text = get('/livez', 'X-Slow: yes');
      const a = await ctx.exchange({
        waitMs: SLOW_CLOSE_MS + 5_000,
        request: async (send) => {
          for (const ch of text) {
            if (!send(ch)) return;
            await new Promise((r) => setTimeout(r, 1000));
          }
        },
      });
      assert.ok(a.closedAfterMs !== null && a.closedAfterMs < SLOW_CLOSE_MS, `closed after ${a.closedAfterMs} ms`);
      assert.equal(a.status, 408);
    },
  },
  {
    name: 'a client that connects and sends nothing',
    async check(ctx) {
      const a = await ctx.exchange({ request: '', waitMs: SLOW_CLOSE_MS + 5_000 });
      assert.ok(a.closedAfterMs !== null && a.closedAfterMs < SLOW_CLOSE_MS, `closed after ${a.closedAfterMs} ms`);
    },
  },
  {
    name: 'repeated bad tokens: 429 for that address, even with the right token; others go on',
    async check(ctx) {
      const guesser = '127.0.0.2';
      for (let i = 0; i < 10; i++) assert.equal((await ctx.exchange({ from: guesser, request: get('/api/streams', bearer(`guess-${i}`)) })).status, 401, `guess ${i}`);
      const blocked = await ctx.exchange({ from: guesser, request: get('/api/streams', bearer(ctx.token)) });
      assert.equal(blocked.status, 429);
      assert.match(blocked.headers['retry-after'], /^[1-9]\d*$/);
      assert.match(blocked.body, /too many wrong tokens from this address: try again in \d+ s/);
      assert.equal((await ctx.exchange({ from: guesser, request: upgrade(`/ws/demo?token=${ctx.token}`) })).status, 429, 'WebSockets too');
      assert.equal((await ctx.exchange({ from: guesser, request: get('/livez') })).status, 200, 'what needs no token stays open');
      assert.equal((await ctx.exchange({ from: '127.0.0.3', request: get('/api/streams', bearer(ctx.token)) })).status, 200, 'another address is not blocked');
    },
  },
];
