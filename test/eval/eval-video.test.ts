// `derain eval-video` end to end, as a user runs it: real ffmpeg, the real rain generator (Python),
// real onnxruntime with the built-in tiny model, the real CLI; and the scoring parts on their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lumaOf, SsimReference, type Luma } from '../../src/eval/metrics.ts';
import { SsimMapReference } from '../../src/eval/ssim-map.ts';
import { changeClasses, dilate } from '../../src/eval/video/masks.ts';
import { VideoScores } from '../../src/eval/video/video-scores.ts';
import { MODEL_DEFAULTS } from '../../src/infer/model-settings.ts';
import { decodeRgb, derain, ffmpeg, tmpDir } from '../helpers.ts';

const W = 64;
const H = 48;
const N = 20;
const dir = tmpDir();

// A fixed camera: colour bars that never change, and a white box crossing them 3 pixels a frame.
const clip = path.join(dir, 'clip');
mkdirSync(clip);
const scene = `smptebars=s=${W}x${H}:r=25[bg];color=c=white:s=10x10:r=25[box];[bg][box]overlay=x='3*n':y=19`;
ffmpeg(['-f', 'lavfi', '-i', scene, '-frames:v', String(N), path.join(clip, 'f%03d.png')]);
const video = path.join(dir, 'clip.mkv');
ffmpeg(['-f', 'lavfi', '-i', scene, '-frames:v', String(N), '-c:v', 'ffv1', video]);

function oneJson(stdout: string): any {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `stdout holds exactly one JSON object:\n${stdout}`);
  return JSON.parse(lines[0]);
}

async function evalVideo(args: string[]): Promise<any> {
  const r = await derain(['eval-video', ...args, '--json'], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stderr);
  return oneJson(r.stdout);
}

const SCORE_KEYS = ['psnr', 'ssim', 'psnrStatic', 'psnrMoving', 'ssimStatic', 'ssimMoving', 'flickerStatic'];

function lumaFile(file: string): Luma {
  return lumaOf(decodeRgb(file), W, H);
}

test('the SSIM map: its mean is SsimReference.ssim', () => {
  const a = lumaFile(path.join(clip, 'f001.png'));
  const b = lumaFile(path.join(clip, 'f010.png'));
  const map = new SsimMapReference(a).map(b);
  assert.equal(map.length, (W - 10) * (H - 10));
  const mean = map.reduce((s, v) => s + v, 0) / map.length;
  assert.ok(Math.abs(mean - new SsimReference(a).ssim(b)) < 1e-12, `${mean}`);
  assert.ok(
    new SsimMapReference(a).map(a).every((v) => Math.abs(v - 1) < 1e-12),
    'an image against itself: 1 everywhere',
  );
});

test('dilate grows a mask by r in every direction, square', () => {
  const m = new Uint8Array(7 * 5);
  m[2 * 7 + 3] = 1;
  const d = dilate(m, 7, 5, 1);
  const set = [...d].map((v, i) => (v ? `${i % 7},${Math.floor(i / 7)}` : '')).filter(Boolean);
  assert.deepEqual(set, ['2,1', '3,1', '4,1', '2,2', '3,2', '4,2', '2,3', '3,3', '4,3']);
  assert.equal(
    dilate(m, 7, 5, 10).reduce((s, v) => s + v, 0),
    35,
    'beyond the edges: the whole frame',
  );
});

test('pixel classes from the clean frames: the moving box is moving, the bars are static', () => {
  const [a, b, c] = ['f004.png', 'f005.png', 'f006.png'].map((f) => lumaFile(path.join(clip, f)));
  const k = changeClasses(a, b, c);
  const at = (x: number, y: number) => [k.static[y * W + x], k.moving[y * W + x]];
  assert.deepEqual(at(14, 24), [0, 1], 'the box (x 12..21 in frame 5) moves');
  assert.deepEqual(at(50, 5), [1, 0], 'the bars far from it are static');
  assert.ok(
    k.static.every((s, i) => s + k.moving[i] === 1),
    'every pixel is one or the other',
  );
});

test('VideoScores: pooled PSNR over pixel sets, flicker beyond the clean frames', () => {
  const w = 16;
  const h = 16;
  const flat = (v: number): Luma => ({ width: w, height: h, y: new Float64Array(w * h).fill(v) });
  const classes = { static: new Uint8Array(w * h).fill(1), moving: new Uint8Array(w * h) };
  for (let i = 0; i < w * 8; i++) [classes.static[i], classes.moving[i]] = [0, 1]; // the top 8 rows move
  const s = new VideoScores();
  const clean = flat(100);
  // frame 1 off by 10 everywhere, frame 2 exact: pooled MSE 50 → 10·log10(255²/50) = 31.13 dB
  for (const img of [flat(110), flat(100)]) s.add({ clean, classes, img, ssimMap: new SsimMapReference(clean).map(img) });
  const r = s.result();
  assert.ok(Math.abs(r.psnr - 10 * Math.log10((255 * 255) / 50)) < 1e-3, `${r.psnr}`);
  assert.equal(r.psnrStatic, r.psnr);
  assert.equal(r.psnrMoving, r.psnr);
  assert.equal(r.flickerStatic, 10, 'output changes by 10 between frames, the clean frames by 0');
  const same = new VideoScores();
  for (let i = 0; i < 2; i++) same.add({ clean, classes, img: clean, ssimMap: new SsimMapReference(clean).map(clean) });
  assert.deepEqual(same.result(), { psnr: 100, ssim: 1, psnrStatic: 100, psnrMoving: 100, ssimStatic: 1, ssimMoving: 1, flickerStatic: 0 });
});

test('--rain none: the input is the clean clip, 100 dB and no flicker; the JSON shape', async () => {
  const s = await evalVideo([clip, '--rain', 'none']);
  for (const k of ['model', 'clip', 'from', 'to', 'frames', 'rain', 'seed', 'inferWidth', 'inferHeight', 'smooth', 'msPerFrame', 'input', 'output', 'staticFraction', 'movingFraction'])
    assert.ok(k in s, `summary has ${k}`);
  for (const k of SCORE_KEYS) {
    assert.ok(k in s.input && k in s.output, `scores have ${k}`);
    assert.equal(typeof s.output[k], 'number', `output.${k}`);
  }
  assert.equal(s.model, 'builtin-tiny');
  assert.deepEqual([s.from, s.to, s.frames], [1, N, N]);
  assert.deepEqual([s.rain, s.seed, s.smooth], ['none', 1, MODEL_DEFAULTS.smooth]);
  assert.deepEqual([s.inferWidth, s.inferHeight], [W, H]);
  assert.ok(s.msPerFrame > 0);
  assert.deepEqual(s.input, { psnr: 100, ssim: 1, psnrStatic: 100, psnrMoving: 100, ssimStatic: 1, ssimMoving: 1, flickerStatic: 0 });
  assert.ok(s.movingFraction > 0.02 && s.staticFraction > 0.7, `static ${s.staticFraction}, moving ${s.movingFraction}`);
  assert.ok(Math.abs(s.staticFraction + s.movingFraction - 1) < 1e-3, 'from the clean frames: every pixel is static or moving');
  assert.equal(s.masks, 'clean-frame change');
  // builtin-tiny removes no rain: its output stays close to the clean input
  assert.ok(s.output.psnr > 35, `output ${s.output.psnr} dB`);
});

test('rain lowers the input scores, deterministically for a seed; heavy is heavier than light', async () => {
  const heavy = await evalVideo([clip, '--rain', 'heavy', '--seed', '7', '--no-smooth']);
  const again = await evalVideo([clip, '--rain', 'heavy', '--seed', '7', '--no-smooth']);
  const light = await evalVideo([clip, '--rain', 'light', '--seed', '7', '--no-smooth']);
  assert.deepEqual(again.input, heavy.input, 'the same seed, the same rain');
  assert.deepEqual(again.output, heavy.output);
  assert.equal(heavy.smooth, 0);
  assert.ok(heavy.input.psnr < 20, `heavy rain: ${heavy.input.psnr} dB`);
  assert.ok(light.input.psnr > heavy.input.psnr + 3, `light ${light.input.psnr} dB, heavy ${heavy.input.psnr} dB`);
  assert.ok(heavy.input.ssim < 0.9 && heavy.input.ssimStatic < 0.9);
  assert.ok(heavy.input.flickerStatic > 5, `fresh rain every frame flickers: ${heavy.input.flickerStatic}`);
  // no smoothing and a model that removes nothing: the output is the input, give or take a level
  assert.ok(Math.abs(heavy.output.psnr - heavy.input.psnr) < 0.5, `${heavy.output.psnr} vs ${heavy.input.psnr}`);
  const other = await evalVideo([clip, '--rain', 'heavy', '--seed', '8', '--no-smooth', '--from', '1', '--to', '5']);
  assert.equal(other.frames, 5);
  assert.notEqual(other.input.psnr, heavy.input.psnr, 'another seed, other rain');
});

test('--pairs: the rain/ frames are scored against clean/ as computed from the files; --from/--to', async () => {
  const pairs = path.join(dir, 'pairs');
  mkdirSync(path.join(pairs, 'rain'), { recursive: true });
  mkdirSync(path.join(pairs, 'clean'), { recursive: true });
  for (const f of readdirSync(clip)) copyFileSync(path.join(clip, f), path.join(pairs, 'clean', f));
  ffmpeg(['-i', path.join(clip, 'f%03d.png'), '-vf', 'noise=alls=40:allf=t', path.join(pairs, 'rain', 'f%03d.png')]);
  const s = await evalVideo(['--pairs', pairs, '--from', '3', '--to', '10']);
  assert.deepEqual([s.from, s.to, s.frames, s.rain, s.seed], [3, 10, 8, null, null]);
  let se = 0;
  for (let i = 3; i <= 10; i++) {
    const name = `f${String(i).padStart(3, '0')}.png`;
    const a = lumaFile(path.join(pairs, 'clean', name));
    const b = lumaFile(path.join(pairs, 'rain', name));
    for (let j = 0; j < a.y.length; j++) se += (a.y[j] - b.y[j]) ** 2;
  }
  const want = 10 * Math.log10((255 * 255) / (se / (8 * W * H)));
  assert.ok(Math.abs(s.input.psnr - want) < 1e-3, `input PSNR ${s.input.psnr} vs ${want} from the files`);
});

test('a video file, a range of it, motion masks and a montage', async () => {
  // masks: the left half moving (255), the right half static (0)
  const masks = path.join(dir, 'masks');
  mkdirSync(masks);
  const raw = Buffer.alloc(W * H);
  for (let y = 0; y < H; y++) raw.fill(255, y * W, y * W + W / 2);
  writeFileSync(path.join(dir, 'mask.gray'), raw);
  for (let n = 5; n <= 14; n++)
    ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${W}x${H}`, '-i', path.join(dir, 'mask.gray'), '-frames:v', '1', path.join(masks, `gt${String(n).padStart(6, '0')}.png`)]);
  const montage = path.join(dir, 'out', 'montage.png');
  const s = await evalVideo([video, '--from', '5', '--to', '14', '--rain', 'medium', '--masks', masks, '--montage', montage]);
  assert.deepEqual([s.from, s.to, s.frames], [5, 14, 10]);
  // moving: 32 columns grown by 2; static: the 30 others
  assert.equal(s.movingFraction, 34 / 64);
  assert.equal(s.staticFraction, 30 / 64);
  assert.match(s.masks, /^given /);
  assert.ok(existsSync(montage));
  const m = decodeRgb(montage);
  assert.equal(m.length, 3 * W * H * 3, 'clean | rainy | derained, side by side');
  assert.equal(s.montageFrame, 10);
});

test('bad input: one line, exit 2', async () => {
  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  const cases: [string[], RegExp][] = [
    [[path.join(dir, 'nope')], /clip not found/],
    [[empty], /holds no frames/],
    [[clip, '--from', '10', '--to', '5'], /--from 10 is after --to 5/],
    [[clip, '--to', '21'], /--to 21 is past the last frame .* \(20 frames\)/],
    [[clip, '--rain', 'storm'], /--rain storm is not a rain setting/],
    [[clip, '--from', 'x'], /--from x must be a whole number/],
    [[], /give a clean clip/],
    [[clip, '--pairs', dir], /not both/],
    [['--pairs', path.join(dir, 'clip')], /has no rain\/ folder/],
    [[clip, '--masks', path.join(dir, 'nope')], /--masks folder not found/],
    [[clip, '--model', 'no-such-model'], /no-such-model/],
  ];
  for (const [args, want] of cases) {
    const r = await derain(['eval-video', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: one line:\n${r.stderr}`);
    assert.match(lines[0], want);
    assert.match(lines[0], /^derain: error: /);
    assert.equal(r.stdout, '');
  }
});
