// Every bad input of the foundation issue: one clear line, the right exit code, no stack, no hang,
// and nothing at the output path that looks complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { countFrames, derain, ffmpeg, makeClip, ROOT, tmpDir } from '../helpers.ts';

const dir = tmpDir();
const good = path.join(dir, 'good.mp4');
makeClip(good, { width: 160, height: 96, frames: 20 });
mkdirSync(path.join(dir, 'empty-folder'));
const fast = path.join(dir, 'fast.mp4');
ffmpeg(['-i', good, '-c', 'copy', '-movflags', '+faststart', fast]);

function write(name: string, data: string | Buffer): string {
  const p = path.join(dir, name);
  writeFileSync(p, data);
  return p;
}

const cases: { name: string; args: () => string[]; code: number; message: RegExp }[] = [
  { name: 'missing file', args: () => [path.join(dir, 'nope.mp4')], code: 2, message: /input not found: .*nope\.mp4/ },
  { name: 'zero-byte file', args: () => [write('zero.mp4', '')], code: 2, message: /is empty \(0 bytes\)/ },
  { name: 'a text file named .mp4', args: () => [write('text.mp4', 'this is not a video\n'.repeat(20))], code: 2, message: /text\.mp4 is not a readable video/ },
  {
    name: 'truncated MP4 (index at the end lost)',
    args: () => [write('trunc.mp4', readFileSync(good).subarray(0, Math.floor(readFileSync(good).length / 2)))],
    code: 2,
    message: /trunc\.mp4 is not a readable video: moov atom not found/,
  },
  { name: 'unknown model path', args: () => [good, '--model', path.join(dir, 'none.onnx')], code: 2, message: /unknown model ".*none\.onnx"/ },
  { name: 'an ONNX file that is not a model', args: () => [good, '--model', write('junk.onnx', 'definitely not protobuf')], code: 2, message: /junk\.onnx is not an ONNX model/ },
  { name: 'inference size larger than the input', args: () => [good, '--infer-size', '320x200'], code: 2, message: /inference size 320x200 is larger than the input 160x96/ },
  { name: 'malformed inference size', args: () => [good, '--infer-size', '320by200'], code: 2, message: /--infer-size "320by200" is not WIDTHxHEIGHT/ },
  { name: 'an execution provider that is not installed', args: () => [good, '--ep', 'tensorrt'], code: 2, message: /execution provider tensorrt is not available/ },
  { name: 'unsupported output extension', args: () => [good, '-o', path.join(dir, 'out.avi')], code: 2, message: /unsupported extension "\.avi"/ },
  { name: 'output into a missing folder', args: () => [good, '-o', path.join(dir, 'no', 'such', 'out.mp4')], code: 2, message: /output folder .* does not exist/ },
  { name: 'an empty image folder', args: () => [path.join(dir, 'empty-folder')], code: 2, message: /holds no images/ },
];

for (const c of cases) {
  test(`bad input: ${c.name}`, async () => {
    const args = c.args();
    if (!args.includes('-o')) args.push('-o', path.join(dir, 'out.mp4'));
    const before = new Set(readdirSync(dir));
    const r = await derain(['run', ...args], { timeoutMs: 60_000 });
    assert.equal(r.code, c.code, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('derain: error:'));
    assert.equal(errors.length, 1, `one error line:\n${r.stderr}`);
    assert.match(errors[0], c.message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const added = readdirSync(dir).filter((f) => !before.has(f) && !/^(zero|text|trunc|junk)\./.test(f));
    assert.deepEqual(added, [], 'no output is left behind');
  });
}

test('bad input: a truncated MP4 that still decodes in part keeps those frames, clearly marked', async () => {
  const cut = path.join(dir, 'cut.mp4');
  const bytes = readFileSync(fast);
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const out = path.join(dir, 'cut-out.mp4');
  const r = await derain(['run', cut, '-o', out, '--json']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the input ended early: \d+ of the 20 frames/);
  assert.match(r.stderr, /kept in .*cut-out\.incomplete\.mp4/);
  assert.equal(r.stdout, '', 'no JSON summary for a failed run');
  assert.ok(!existsSync(out), 'nothing at the target name looks complete');
  const kept = countFrames(path.join(dir, 'cut-out.incomplete.mp4')).frames;
  assert.ok(kept > 0 && kept < 20, `the ${kept} frames decoded are kept`);
});

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
