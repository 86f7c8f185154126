// `derain run` end to end, as a user runs it: real ffmpeg, real onnxruntime, real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { countFrames, decodeRgb, derain, ffmpeg, makeClip, REAL_VIDEO_DIR, tmpDir } from '../helpers.ts';

// The real clip lives in ../shared/data (as in CI); without it these tests fail, loudly.
function needRealVideo() {
  assert.ok(existsSync(REAL_VIDEO_DIR), `the real rain clip is missing: ${REAL_VIDEO_DIR}`);
}

test('the real 50-frame clip: frames in = frames out, a playable 640x360 MP4', async () => {
  needRealVideo();
  const dir = tmpDir();
  const clip = path.join(dir, 'clip.mp4');
  ffmpeg(['-framerate', '25', '-i', path.join(REAL_VIDEO_DIR, '%03d.png'), '-pix_fmt', 'yuv420p', clip]);
  const out = path.join(dir, 'out.mp4');
  const r = await derain(['run', clip, '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'stdout holds exactly one JSON object');
  const s = JSON.parse(lines[0]);
  for (const k of ['input', 'output', 'framesIn', 'framesOut', 'framesDropped', 'width', 'height', 'inferWidth', 'inferHeight', 'model', 'ep', 'wallSeconds', 'fps', 'inferenceMs'])
    assert.ok(k in s, `summary has ${k}`);
  assert.equal(s.framesIn, 50);
  assert.equal(s.framesOut, 50);
  assert.equal(s.framesDropped, 0);
  assert.equal(s.ep, 'cpu');
  assert.match(r.stderr, /execution provider cpu/, 'auto says which provider runs');
  assert.ok(s.inferenceMs.p50 > 0 && s.inferenceMs.p95 >= s.inferenceMs.p50);
  assert.deepEqual(countFrames(out), { frames: 50, width: 640, height: 360 });
  assert.deepEqual(readdirSync(dir).sort(), ['clip.mp4', 'out.mp4'], 'no temporary files are left');
});

test('an image folder in, PNG frames out', async () => {
  needRealVideo();
  const out = path.join(tmpDir(), 'frames');
  const r = await derain(['run', REAL_VIDEO_DIR, '-o', out, '--json', '--scale', '0.5']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.framesOut, 50);
  assert.deepEqual([s.inferWidth, s.inferHeight], [320, 180]);
  const files = readdirSync(out).sort();
  assert.equal(files.length, 50);
  assert.equal(files[0], '000001.png');
  assert.equal(decodeRgb(path.join(out, files[0])).length, 640 * 360 * 3);
});

test('odd frame sizes and a variable frame rate: every frame comes out once', async () => {
  const dir = tmpDir();
  const input = path.join(dir, 'vfr.mkv');
  makeClip(input, { width: 481, height: 321, frames: 30, vfr: true });
  const video = path.join(dir, 'out.mp4');
  const r = await derain(['run', input, '-o', video, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.framesIn, 30);
  assert.equal(s.framesOut, 30);
  assert.equal(countFrames(video).frames, 30);
  assert.match(s.note, /482x322/, 'the yuv420p padding is reported');

  const pngs = path.join(dir, 'pngs');
  const r2 = await derain(['run', input, '-o', pngs, '--json', '--infer-size', '240x160']);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(readdirSync(pngs).length, 30);
  assert.equal(decodeRgb(path.join(pngs, '000030.png')).length, 481 * 321 * 3, 'PNG frames keep the exact odd size');
});

test('image folders are read in natural name order (1, 2, 10), not text order', async () => {
  const dir = tmpDir();
  const input = path.join(dir, 'in');
  mkdirSync(input);
  const colors = { '1.png': 'red', '2.png': 'lime', '10.png': 'blue' } as const;
  for (const [name, color] of Object.entries(colors)) ffmpeg(['-f', 'lavfi', '-i', `color=c=${color}:s=32x24`, '-frames:v', '1', path.join(input, name)]);
  const out = path.join(dir, 'out');
  const r = await derain(['run', input, '-o', out, '--no-smooth']);
  assert.equal(r.code, 0, r.stderr);
  const dominant = (f: string) => {
    const px = decodeRgb(path.join(out, f));
    return [0, 1, 2].reduce((best, c) => (px[c] > px[best] ? c : best), 0);
  };
  assert.deepEqual(['000001.png', '000002.png', '000003.png'].map(dominant), [0, 1, 2], 'red, green, blue');
});

test('a printf pattern reads the matching files in order, and a pattern that matches nothing is an error', async () => {
  const dir = tmpDir();
  const colors = ['red', 'lime', 'blue'];
  colors.forEach((c, i) => ffmpeg(['-f', 'lavfi', '-i', `color=c=${c}:s=32x24`, '-frames:v', '1', path.join(dir, `f${String(i + 1).padStart(3, '0')}.png`)]));
  const out = path.join(dir, 'out');
  const r = await derain(['run', path.join(dir, 'f%03d.png'), '-o', out, '--json', '--no-smooth']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).framesOut, 3);
  const px = decodeRgb(path.join(out, '000003.png'));
  assert.ok(px[2] > 200 && px[0] < 50, 'the third frame is the blue one');
  const none = await derain(['run', path.join(dir, 'g%03d.png')]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /matches no files/);
});

test('a bad --smooth or an unknown option is a usage error', async () => {
  const r = await derain(['run', 'whatever.mp4', '--smooth', '3']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--smooth 3 must be in \[0, 1\]/);
  const r2 = await derain(['run', 'whatever.mp4', '--bogus']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /unknown option '--bogus'/);
});

test('--help lists the run options', async () => {
  const r = await derain(['run', '--help']);
  assert.equal(r.code, 0);
  for (const opt of ['--infer-size', '--scale', '--smooth', '--no-smooth', '--ep', '--json', '--model']) assert.ok(r.stdout.includes(opt), opt);
});
