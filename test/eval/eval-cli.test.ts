// `derain eval` end to end, as a user runs it: real ffmpeg decoding, real onnxruntime, the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GraphBuilder, DataType } from '../../src/infer/graph-builder.ts';
import { lumaOf, psnr, SsimReference } from '../../src/eval/metrics.ts';
import { decodeRgb, derain, ffmpeg, tmpDir } from '../helpers.ts';

const dir = tmpDir();

/** A small evaluation set: clean test pictures and noisy "rainy" ones; 10.png is portrait. */
function makeSet(root: string, sizes: Record<string, string>): string {
  mkdirSync(path.join(root, 'rain'), { recursive: true });
  mkdirSync(path.join(root, 'norain'), { recursive: true });
  for (const [name, size] of Object.entries(sizes)) {
    ffmpeg(['-f', 'lavfi', '-i', `testsrc=size=${size}`, '-frames:v', '1', path.join(root, 'norain', name)]);
    ffmpeg(['-f', 'lavfi', '-i', `testsrc=size=${size},noise=alls=60:all_seed=${name.length}`, '-frames:v', '1', path.join(root, 'rain', name)]);
  }
  return root;
}

const set = makeSet(path.join(dir, 'set'), { '1.png': '64x48', '2.png': '64x48', '10.png': '48x64' });

function sizeOf(file: string): { width: number; height: number } {
  const [w, h] = file.includes('10.png') ? [48, 64] : [64, 48];
  return { width: w, height: h };
}

/** Scores computed here from the files, for comparison with what the CLI reports. */
function score(name: string, out?: Buffer): { psnr: number; ssim: number } {
  const { width, height } = sizeOf(name);
  const ref = new SsimReference(lumaOf(decodeRgb(path.join(set, 'norain', name)), width, height));
  const img = lumaOf(out ?? decodeRgb(path.join(set, 'rain', name)), width, height);
  return { psnr: psnr(img, ref.ref), ssim: ref.ssim(img) };
}

function oneJson(stdout: string): any {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `stdout holds exactly one JSON object:\n${stdout}`);
  return JSON.parse(lines[0]);
}

test('--json --limit: one object, the first N pairs in natural order, input scores of the files', async () => {
  const r = await derain(['eval', '--model', 'builtin-tiny', '--data', set, '--limit', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = oneJson(r.stdout);
  for (const k of ['model', 'n', 'psnr', 'ssim', 'inputPsnr', 'inputSsim', 'perImage', 'ep', 'msPerImage']) assert.ok(k in s, `summary has ${k}`);
  assert.equal(s.model, 'builtin-tiny');
  assert.equal(s.ep, 'cpu');
  assert.equal(s.n, 2);
  assert.deepEqual(
    s.perImage.map((p: any) => p.name),
    ['1.png', '2.png'],
    'natural order: 1, 2, then 10',
  );
  for (const p of s.perImage) {
    for (const k of ['psnr', 'ssim', 'inputPsnr', 'inputSsim']) assert.equal(typeof p[k], 'number', `${p.name}.${k}`);
    const want = score(p.name);
    assert.ok(Math.abs(p.inputPsnr - want.psnr) < 0.01, `${p.name} input PSNR ${p.inputPsnr} vs ${want.psnr}`);
    assert.ok(Math.abs(p.inputSsim - want.ssim) < 0.001, `${p.name} input SSIM ${p.inputSsim} vs ${want.ssim}`);
    // builtin-tiny removes no rain: its output stays within a fraction of a level of the input.
    assert.ok(Math.abs(p.psnr - p.inputPsnr) < 0.5, `${p.name}: ${p.psnr} vs ${p.inputPsnr}`);
    assert.deepEqual([p.inferWidth, p.inferHeight], [64, 48], 'full resolution by default');
  }
  const mean = (k: string) => s.perImage.reduce((a: number, p: any) => a + p[k], 0) / s.n;
  assert.ok(Math.abs(s.inputPsnr - mean('inputPsnr')) < 1e-3);
  assert.ok(Math.abs(s.psnr - mean('psnr')) < 1e-3);
  assert.ok(s.inputPsnr > 5 && s.inputPsnr < 40 && s.inputSsim > 0 && s.inputSsim < 1, 'the noisy inputs are scored as noisy');
});

test("the model's output is what gets scored: an ONNX model that paints everything gray", async () => {
  // Returns the clean image 0.6 everywhere: every output pixel is 153, Y = round(16 + 219 * 0.6) = 147.
  const b = new GraphBuilder('gray');
  const x = b.input('input', DataType.FLOAT, [1, 3, 'height', 'width']);
  const out = b.op('Add', [b.op('Mul', [x, b.f32([0], [])]), b.f32([0.6], [])]);
  b.rename(out, 'image');
  b.output('image', DataType.FLOAT, [1, 3, 'height', 'width']);
  const model = path.join(dir, 'gray.onnx');
  writeFileSync(model, b.toBytes(13));

  const r = await derain(['eval', '--model', model, '--data', set, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = oneJson(r.stdout);
  assert.equal(s.model, 'gray');
  assert.deepEqual(
    s.perImage.map((p: any) => p.name),
    ['1.png', '2.png', '10.png'],
  );
  for (const p of s.perImage) {
    const { width, height } = sizeOf(p.name);
    const gray = Buffer.alloc(width * height * 3, 153);
    const want = score(p.name, gray);
    assert.ok(Math.abs(p.psnr - want.psnr) < 0.01, `${p.name} PSNR ${p.psnr} vs ${want.psnr}`);
    assert.ok(Math.abs(p.ssim - want.ssim) < 0.001, `${p.name} SSIM ${p.ssim} vs ${want.ssim}`);
    assert.notEqual(p.psnr, p.inputPsnr);
    assert.deepEqual([p.width, p.height, p.inferWidth, p.inferHeight], [width, height, width, height], 'each size at full resolution');
  }
});

test("--infer-size follows each image's orientation; without --json a table", async () => {
  const r = await derain(['eval', '--model', 'builtin-tiny', '--data', set, '--infer-size', '32x24']);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.split('\n');
  for (const name of ['1.png', '2.png', '10.png'])
    assert.ok(
      rows.some((l) => l.startsWith(name)),
      `a row for ${name}:\n${r.stdout}`,
    );
  assert.match(r.stdout, /^mean\s+\(3\)\s+\d+\.\d\d\s+0\.\d{4}/m);
  assert.match(r.stdout, /model builtin-tiny \(32x24, 24x32\) on cpu: PSNR \d+\.\d\d dB/);
  assert.doesNotMatch(r.stderr, /error/);
});

function bad(name: string, build: () => string[], message: RegExp) {
  test(`bad input: ${name}`, async () => {
    const r = await derain(['eval', ...build()], { timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('derain: error:'));
    assert.equal(errors.length, 1, `one error line:\n${r.stderr}`);
    assert.match(errors[0], message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.stdout, '', 'nothing on stdout');
  });
}

bad('a missing folder', () => ['--data', path.join(dir, 'nope')], /data folder not found: .*nope/);

bad(
  'rain/ and norain/ names that do not match',
  () => {
    const d = makeSet(path.join(dir, 'mismatch'), { '1.png': '32x32' });
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=32x32', '-frames:v', '1', path.join(d, 'rain', '2.png')]);
    return ['--data', d];
  },
  /rain\/ and norain\/ of .*mismatch do not match \(only in rain\/: 2\.png\)/,
);

bad(
  'a pair of different sizes',
  () => {
    const d = makeSet(path.join(dir, 'sizes'), { '1.png': '32x32' });
    ffmpeg(['-y', '-f', 'lavfi', '-i', 'testsrc=size=40x30', '-frames:v', '1', path.join(d, 'norain', '1.png')]);
    return ['--data', d];
  },
  /pair 1\.png: rain\/1\.png is 32x32 but norain\/1\.png is 40x30/,
);

bad(
  'a corrupt image',
  () => {
    const d = makeSet(path.join(dir, 'corrupt'), { '1.png': '32x32', '2.png': '32x32' });
    writeFileSync(path.join(d, 'rain', '2.png'), 'this is not a PNG\n'.repeat(10));
    return ['--data', d];
  },
  /image .*corrupt\/rain\/2\.png cannot be read: .*PNG/i,
);

bad('an unknown model', () => ['--data', set, '--model', 'no-such-model'], /unknown model "no-such-model"/);

test('derain eval without --model runs the default model that derain models marks (as derain run does)', async () => {
  const env = { env: { DERAIN_DEFAULT_MODEL: '' } };
  const models = JSON.parse((await derain(['models', '--json'], env)).stdout) as { name: string; default: boolean }[];
  const marked = models.filter((m) => m.default).map((m) => m.name);
  assert.equal(marked.length, 1, `one default: ${marked.join(', ')}`);
  const r = await derain(['eval', '--data', set, '--limit', '1', '--json', '--ep', 'cpu'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).model, marked[0]);
  const run = await derain(['run', path.join(set, 'rain', '1.png'), '--json', '--ep', 'cpu'], env);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).model, marked[0]);
});
