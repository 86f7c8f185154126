// Messages from the model side that misled (issue 18, defect 8): onnxruntime's own coloured,
// multi-line log of a failing run reached stderr beside our one-line error (now only under
// DEBUG); a model folder without card.json was an "unknown model" (now: the card is missing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveModel } from '../../src/infer/model-card.ts';
import { ROOT, derain, makeClip, tmpDir } from '../helpers.ts';

function child(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'infer', 'ort-fail-child.ts')], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('a run that fails in onnxruntime: the error is thrown, and onnxruntime writes nothing to stderr (its full log under DEBUG)', { timeout: 60_000 }, async () => {
  const quiet = await child({ DEBUG: '' });
  assert.equal(quiet.code, 0, quiet.stderr);
  const { caught } = JSON.parse(quiet.stdout.trim()) as { caught: string | null };
  assert.match(caught ?? '', /Reshape/, 'the failure is thrown, with its reason');
  assert.equal(quiet.stderr, '', 'nothing from onnxruntime on stderr');

  const debug = await child({ DEBUG: '1' });
  assert.equal(debug.code, 0, debug.stderr);
  assert.match(debug.stderr, /\[E:onnxruntime:.*Reshape/, 'under DEBUG onnxruntime says it all');
});

test('a model folder without card.json: the card is missing, not an "unknown model"', { timeout: 60_000 }, async () => {
  const dir = tmpDir();
  const folder = path.join(dir, 'my-model');
  mkdirSync(folder);
  writeFileSync(path.join(folder, 'model.onnx'), 'not read');
  assert.throws(
    () => resolveModel(folder),
    (err: Error) => {
      assert.match(err.message, /model folder .*my-model has no card\.json/);
      assert.match(err.message, /my-model[/\\]model\.onnx/, 'names the ONNX file it holds');
      assert.doesNotMatch(err.message, /unknown model/);
      return true;
    },
  );
  const clip = path.join(dir, 'clip.mp4');
  makeClip(clip, { width: 64, height: 48, frames: 3 });
  const r = await derain(['run', clip, '--model', folder]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /has no card\.json/);
});
