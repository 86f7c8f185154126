#!/usr/bin/env node
// A detector on the derained feed of `derain serve`: reads /ws/<id>?format=rgb24, runs a detector
// card on each frame in onnxruntime, and prints one JSON line per frame with the frame's seq, pts
// and capture time, so detections can be joined back to the video (or to the RTSP output).
//
// It imports the detector runner and the frame header reader from the built package, as a user's
// project that depends on derain-stream would (here: node_modules/derain-stream is this checkout).
//
//   node examples/detector-client/index.js --url ws://127.0.0.1:8080/ws/demo \
//        --detector ../shared/models/yolox-nano/yolox_nano.onnx [--token T] [--frames N]
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { openDetector } from 'derain-stream/dist/detect/index.js';
import { readFrameHeader } from 'derain-stream/dist/protocol/frame-header.js';

const USAGE = `usage: node examples/detector-client/index.js --url ws://HOST:PORT/ws/<id> [--detector card.json|model.onnx]
       [--token T (or DERAIN_TOKEN)] [--classes vehicles|all|car,truck] [--score s] [--raw] [--frames N]
       [--ep cpu|cuda|...] [--threads n] [--stats-every seconds]`;

function fail(message, code = 2) {
  process.stderr.write(`detector-client: ${message}\n`);
  process.exit(code);
}

let args;
try {
  args = parseArgs({
    options: {
      url: { type: 'string' },
      detector: { type: 'string' },
      token: { type: 'string' },
      classes: { type: 'string', default: 'vehicles' },
      score: { type: 'string' },
      raw: { type: 'boolean', default: false },
      frames: { type: 'string' },
      ep: { type: 'string', default: 'cpu' },
      threads: { type: 'string' },
      'stats-every': { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  fail(`${err.message}\n${USAGE}`);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!args.url) fail(`--url is required\n${USAGE}`);

let url;
try {
  url = new URL(args.url);
} catch {
  fail(`--url ${args.url} is not a URL`);
}
if (url.protocol !== 'ws:' && url.protocol !== 'wss:') fail(`--url ${args.url}: use ws:// or wss://`);
if ((url.searchParams.get('format') ?? 'rgb24') !== 'rgb24') fail('--url: the detector needs format=rgb24 (raw pixels), not JPEG');
url.searchParams.set('format', 'rgb24');
if (args.raw) url.searchParams.set('raw', '1');
const token = args.token ?? process.env.DERAIN_TOKEN;
const maxFrames = args.frames === undefined ? Infinity : Number(args.frames);
if (!(maxFrames >= 1)) fail(`--frames ${args.frames} must be a whole number from 1`);
const statsEvery = Number(args['stats-every']) * 1000;
const options = { ep: args.ep, classes: args.classes, score: args.score === undefined ? undefined : Number(args.score), threads: args.threads ? Number(args.threads) : undefined };

// Counters: frames detected; frames the server never sent (seq gaps: it dropped them, behind the
// camera or for a slow client); frames that arrived while the detector was busy and were passed
// over for a newer one (this client behind); stale repeats (camera down) not run again.
const stats = { detected: 0, gaps: 0, skipped: 0, stale: 0, latencies: [], detectMs: [], startedAt: 0 };
let detector = null;
let opening = null;
let latest = null;
let busy = false;
let lastSeq = null;
let hello = null;

const percentile = (xs, p) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 10) / 10;
};

function summary() {
  const seconds = stats.startedAt ? (Date.now() - stats.startedAt) / 1000 : 0;
  return {
    stream: hello?.stream ?? null,
    width: hello?.width ?? null,
    height: hello?.height ?? null,
    streamFps: hello?.fps ?? null,
    detected: stats.detected,
    fps: seconds > 0 ? Math.round((stats.detected / seconds) * 10) / 10 : 0,
    latencyMs: { p50: percentile(stats.latencies, 50), p95: percentile(stats.latencies, 95) },
    detectMs: { p50: percentile(stats.detectMs, 50), p95: percentile(stats.detectMs, 95) },
    gaps: stats.gaps,
    skipped: stats.skipped,
    stale: stats.stale,
  };
}

function finish(code = 0) {
  process.stderr.write(`detector-client: summary ${JSON.stringify(summary())}\n`);
  process.exit(code);
}

async function pump() {
  if (busy || !latest || !detector) return;
  busy = true;
  const { header, pixels } = latest;
  latest = null;
  const t0 = performance.now();
  const found = await detector.detect(pixels);
  const detectedAt = Date.now();
  const detectMs = performance.now() - t0;
  const latencyMs = detectedAt - header.capturedAt;
  stats.detected++;
  stats.latencies.push(latencyMs);
  stats.detectMs.push(detectMs);
  const line = {
    seq: header.seq,
    pts: header.pts,
    capturedAt: header.capturedAt,
    detectedAt,
    latencyMs: Math.round(latencyMs * 10) / 10,
    detectMs: Math.round(detectMs * 10) / 10,
    detections: found.map((d) => ({ label: d.label, score: Math.round(d.score * 1000) / 1000, box: d.box.map((v) => Math.round(v * 10) / 10) })),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  if (stats.detected >= maxFrames) finish(0);
  busy = false;
  // (a later turn of the event loop: the frames that arrived while the detector ran are read
  // first, so the next one detected is the newest, not the oldest waiting)
  setImmediate(pump);
}

async function onHello(msg) {
  hello = msg;
  if (detector && (detector.width !== msg.width || detector.height !== msg.height)) {
    await detector.close();
    detector = null;
  }
  if (!detector) {
    opening ??= openDetector(args.detector, { width: msg.width, height: msg.height }, options);
    try {
      detector = await opening;
    } catch (err) {
      fail(err.message);
    } finally {
      opening = null;
    }
    process.stderr.write(
      `detector-client: ${msg.stream} ${msg.width}x${msg.height} @ ${msg.fps} fps (${msg.raw ? 'input' : 'derained'} frames); detector ${detector.card.name} on ${detector.ep}: ${detector.classes.join(', ')}\n`,
    );
  }
  stats.startedAt ||= Date.now();
  pump();
}

function onFrame(data) {
  const msg = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const header = readFrameHeader(msg);
  if (header.format !== 'rgb24') return;
  if (header.stale) {
    stats.stale++;
    return;
  }
  if (lastSeq !== null && header.seq > lastSeq + 1) stats.gaps += header.seq - lastSeq - 1;
  lastSeq = header.seq;
  if (latest) stats.skipped++;
  latest = { header, pixels: msg.subarray(header.headerBytes) };
  pump();
}

let retries = 0;
function connect() {
  const ws = new WebSocket(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, perMessageDeflate: false });
  ws.on('unexpected-response', (_req, res) => {
    const why = { 401: token ? 'the token was refused' : 'the server wants a token (--token or DERAIN_TOKEN)', 404: 'no such stream', 403: 'Origin refused' }[res.statusCode];
    fail(`${url.origin}${url.pathname}: HTTP ${res.statusCode}${why ? `: ${why}` : ''}`);
  });
  ws.on('error', (err) => fail(`${url.origin}${url.pathname}: ${err.message}`, 1));
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const msg = JSON.parse(data.toString());
      if (msg.type === 'hello') onHello(msg);
      return;
    }
    onFrame(data);
  });
  ws.on('close', (code, reason) => {
    // 1013: the stream has no frame yet (a camera still starting): ask again
    if (code === 1013 && retries++ < 30) return setTimeout(connect, 1000);
    process.stderr.write(`detector-client: the server closed the connection (${code}${reason.length ? `: ${reason}` : ''})\n`);
    finish(stats.detected > 0 ? 0 : 1);
  });
}

if (statsEvery > 0)
  setInterval(() => {
    if (stats.detected) process.stderr.write(`detector-client: ${JSON.stringify(summary())}\n`);
  }, statsEvery).unref();
process.on('SIGINT', () => finish(0));
process.on('SIGTERM', () => finish(0));
connect();
