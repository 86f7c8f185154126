// The project's own CPU model (models/fclip-unet-lite, trained with the kit): the default of
// `derain run` on a CPU, and it removes rain (a few Rain100H pairs: evaluation, not training).
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { SHARED_DATA, derain, makeClip, tmpDir } from '../helpers.ts';

const env = { DERAIN_DEFAULT_MODEL: '' };

test('on a CPU, `derain run` uses fclip-unet-lite by default, at its card\'s inference size', async () => {
  const dir = tmpDir();
  const clip = path.join(dir, 'clip.mp4');
  makeClip(clip, { width: 640, height: 360, frames: 4 });
  const r = await derain(['run', clip, '-o', '-', '--ep', 'cpu', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.model, 'fclip-unet-lite');
  assert.deepEqual([s.inferWidth, s.inferHeight], [320, 180]);
  assert.equal(s.framesOut, 4);
});

test('fclip-unet-lite removes rain: Rain100H PSNR and SSIM above the input (first 4 pairs)', async () => {
  const r = await derain(['eval', '--model', 'fclip-unet-lite', '--data', path.join(SHARED_DATA, 'rain100h'), '--limit', '4', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.n, 4);
  assert.ok(s.psnr > s.inputPsnr + 6, `psnr ${s.psnr} vs input ${s.inputPsnr}`);
  assert.ok(s.ssim > s.inputSsim + 0.25, `ssim ${s.ssim} vs input ${s.inputSsim}`);
});
