// The project's own CPU models (trained with the kit): the temporal fclip-unet-lite2-t5 is the
// default of `derain run` on a CPU, at full resolution; all remove rain (a few Rain100H pairs:
// evaluation, not training).
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { SHARED_DATA, derain, makeClip, tmpDir } from '../helpers.ts';

const env = { DERAIN_DEFAULT_MODEL: '' };

test('on a CPU, `derain run` uses fclip-unet-lite2-t5 by default, at full resolution for a 640x360 camera', async () => {
  const dir = tmpDir();
  const clip = path.join(dir, 'clip.mp4');
  makeClip(clip, { width: 640, height: 360, frames: 4 });
  const r = await derain(['run', clip, '-o', '-', '--ep', 'cpu', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.model, 'fclip-unet-lite2-t5');
  assert.deepEqual([s.inferWidth, s.inferHeight], [640, 360]);
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

test('fclip-unet-lite2 removes rain: Rain100H PSNR and SSIM above the input (first 4 pairs)', async () => {
  const r = await derain(['eval', '--model', 'fclip-unet-lite2', '--data', path.join(SHARED_DATA, 'rain100h'), '--limit', '4', '--json', '--ep', 'cpu'], { env });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.ok(s.psnr > s.inputPsnr + 6, `psnr ${s.psnr} vs input ${s.inputPsnr}`);
  assert.ok(s.ssim > s.inputSsim + 0.2, `ssim ${s.ssim} vs input ${s.inputSsim}`);
});

test('fclip-unet-lite2-t5, the CPU default, removes rain from single images: each Rain100H pair on its own (first 4)', async () => {
  const r = await derain(['eval', '--data', path.join(SHARED_DATA, 'rain100h'), '--limit', '4', '--json', '--ep', 'cpu'], { env });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.model, 'fclip-unet-lite2-t5', 'eval without --model runs the CPU default');
  assert.ok(s.psnr > s.inputPsnr + 6, `psnr ${s.psnr} vs input ${s.inputPsnr}`);
  assert.ok(s.ssim > s.inputSsim + 0.2, `ssim ${s.ssim} vs input ${s.inputSsim}`);
});
