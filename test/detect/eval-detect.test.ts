// `derain eval-detect` end to end, as a user runs it: real CDnet highway frames, the kit's rain
// generator (Python), real ffmpeg, real onnxruntime with YOLOX-nano and the built-in tiny
// deraining model (DERAIN_DEFAULT_MODEL, set by the helpers), the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DataType, GraphBuilder } from '../../src/infer/index.ts';
import { ROOT, SHARED_DATA, decodeRgb, derain, tmpDir } from '../helpers.ts';

const YOLOX = path.resolve(ROOT, '..', 'shared', 'models', 'yolox-nano', 'yolox_nano.onnx');
const CDNET = path.join(SHARED_DATA, 'traffic-highway-cdnet', 'input');
const dir = tmpDir();

function oneJson(stdout: string): any {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `stdout holds exactly one JSON object:\n${stdout}`);
  return JSON.parse(lines[0]);
}

async function evalDetect(args: string[]): Promise<any> {
  assert.ok(existsSync(YOLOX) && existsSync(CDNET), 'these tests need ../shared (models/yolox-nano and data/traffic-highway-cdnet)');
  const r = await derain(['eval-detect', ...args, '--json'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  return oneJson(r.stdout);
}

test('eval-detect on CDnet frames with heavy rain: recall and precision of rainy and derained frames against the clean ones', { timeout: 120_000 }, async () => {
  const s = await evalDetect(['--detector', YOLOX, CDNET, '--from', '1200', '--to', '1204']);
  assert.equal(s.frames, 5);
  assert.deepEqual([s.from, s.to, s.rain, s.seed, s.model, s.width, s.height], [1200, 1204, 'heavy', 1, 'builtin-tiny', 320, 240]);
  assert.deepEqual(s.classes, ['car', 'motorcycle', 'bus', 'truck']);
  assert.deepEqual([s.score, s.iou, s.nmsIou], [0.3, 0.5, 0.45]);
  assert.match(s.detectorSource, /YOLOX defaults/);
  assert.ok(s.clean.detections >= 5, `YOLOX-nano finds cars on the clean highway frames: ${JSON.stringify(s.clean)}`);
  assert.deepEqual(
    s.perFrame.map((f: any) => f.n),
    [1200, 1201, 1202, 1203, 1204],
  );
  for (const set of ['rainy', 'derained']) {
    const r = s[set];
    assert.equal(r.frames, 5);
    assert.equal(
      r.matched,
      s.perFrame.reduce((n: number, f: any) => n + f[`${set}Matched`], 0),
    );
    assert.equal(r.recall, Math.round((r.matched / s.clean.detections) * 1e4) / 1e4);
    assert.ok(r.matched <= r.detections && r.recall >= 0 && r.recall <= 1, JSON.stringify(r));
  }
  assert.ok(s.rainy.recall < 0.9, `heavy rain costs the detector: ${JSON.stringify(s.rainy)}`);
  assert.ok(s.msPerFrame.derain > 0 && s.msPerFrame.detect > 0);
});

test('eval-detect --rain none: the rainy frames are the clean ones, recall and precision 1; --annotate writes clean | rainy | derained with boxes', { timeout: 120_000 }, async () => {
  const png = path.join(dir, 'out', 'annotated.png');
  const s = await evalDetect([CDNET, '--from', '1210', '--to', '1212', '--rain', 'none', '--no-smooth', '--annotate', png]);
  assert.equal(s.rainy.recall, 1);
  assert.equal(s.rainy.precision, 1);
  assert.equal(s.rainy.detections, s.clean.detections);
  assert.equal(s.smooth, 0);
  assert.match(s.detectorSource, /card .*detectors\/yolox-nano\.json/, 'the committed card is the default');
  assert.equal(s.annotate, png);
  assert.equal(s.annotateFrame, 1211);
  const rgb = decodeRgb(png);
  assert.equal(rgb.length, 960 * 240 * 3, 'three 320x240 panels side by side');
  let green = 0;
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] === 0 && rgb[i + 1] === 255 && rgb[i + 2] === 0) green++;
  assert.ok(green > 50, `the clean boxes are drawn (${green} green pixels)`);
});

test('eval-detect --pairs: a rain/ + clean/ frame folder pair', { timeout: 120_000 }, async () => {
  const pairs = path.join(dir, 'pairs');
  for (const sub of ['rain', 'clean']) {
    mkdirSync(path.join(pairs, sub), { recursive: true });
    for (const n of [1220, 1221, 1222]) copyFileSync(path.join(CDNET, `in00${n}.jpg`), path.join(pairs, sub, `f${n}.jpg`));
  }
  const s = await evalDetect(['--pairs', pairs, '--classes', 'car']);
  assert.deepEqual([s.frames, s.rain, s.seed, s.classes], [3, null, null, ['car']]);
  assert.equal(s.rainy.recall, 1, 'rain/ holds the clean frames here');
});

test('eval-detect bad input: one line on stderr, exit 2, before any rain is made', { timeout: 120_000 }, async () => {
  const b = new GraphBuilder('image');
  b.opN('Relu', [b.input('images', DataType.FLOAT, [1, 3, 'h', 'w'])], {}, 1, ['out']);
  b.output('out', DataType.FLOAT, [1, 3, 'h', 'w']);
  const imageModel = path.join(dir, 'derainer.onnx');
  writeFileSync(imageModel, b.toBytes(11));
  const badCard = path.join(dir, 'bad.json');
  writeFileSync(badCard, JSON.stringify({ name: 'x', onnx: YOLOX, input: { width: 416, height: 416, channels: 'bgr' }, output: { decode: 'grid', strides: [8] }, classes: ['car'] }));
  const clip = [CDNET, '--from', '1200', '--to', '1201'];
  for (const [args, message] of [
    [['--detector', path.join(dir, 'missing.onnx'), ...clip], /detector not found: .*missing\.onnx/],
    [['--detector', imageModel, ...clip], /derainer\.onnx is not a detector .*its output is 1x3x\?x\?, expected 1x3549x85/],
    [['--detector', badCard, ...clip], /detector card .*bad\.json: output\.objectness: /],
    [[...clip, '--classes', 'tank'], /--classes: yolox-nano has no class "tank"/],
    [[...clip, '--annotate', 'out.jpg'], /--annotate out\.jpg: the annotated frame is a \.png file/],
    [[...clip, '--iou', '0'], /--iou 0 must be in \(0, 1\]/],
    [[...clip, '--rain', 'drizzle'], /--rain drizzle is not a rain setting/],
    [[CDNET, '--from', '1300', '--to', '1200'], /--from 1300 is after --to 1200/],
  ] as const) {
    const r = await derain(['eval-detect', ...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0], /^derain: error: /);
    assert.match(lines[0], message);
    assert.doesNotMatch(r.stderr, /rendering|\n\s+at /, 'no rain made, no stack');
  }
});
