// Bad input to `derain run` beyond the malformed-input corpus (test/corpus, where every bad file,
// model and option is a case): DEBUG shows the stack a user error otherwise hides, and Ctrl-C
// keeps what was derained so far.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { countFrames, derain, makeClip, ROOT, tmpDir } from '../helpers.ts';

const dir = tmpDir();

test('DEBUG shows the stack of a user error', async () => {
  const r = await derain(['run', path.join(dir, 'nope.mp4')], { env: { DEBUG: '1' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\n\s+at /);
});

test('Ctrl-C keeps the frames derained so far, marked incomplete', async () => {
  const long = path.join(dir, 'long.mkv');
  makeClip(long, { width: 160, height: 96, frames: 3000 });
  const out = path.join(dir, 'interrupted.mp4');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts'), 'run', long, '-o', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  // Interrupt once the run has started (its first line names the model).
  await new Promise<void>((resolve) => child.stderr.on('data', () => stderr.includes('execution provider') && resolve()));
  await new Promise((r) => setTimeout(r, 500));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 1, stderr);
  const m = /interrupted after (\d+) frames/.exec(stderr);
  assert.ok(m, stderr);
  assert.ok(!existsSync(out), 'nothing at the target name looks complete');
  const kept = countFrames(path.join(dir, 'interrupted.incomplete.mp4')).frames;
  assert.equal(kept, Number(m[1]), 'every frame that came out is in the kept file');
  assert.ok(kept > 0 && kept < 3000);
});
