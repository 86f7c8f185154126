// `derain run` whose inference process is killed in the middle of the file: the job fails at
// once with one clear error, and the frames derained before are kept, marked incomplete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, countFrames, makeClip, tmpDir } from '../helpers.ts';
import { waitFor } from '../serve/live-helpers.ts';

/** The child of `parent` whose command line holds `marker`, from /proc. */
function childOf(parent: number, marker: string): number | null {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker)) return Number(d);
    } catch {
      /* gone meanwhile */
    }
  }
  return null;
}

/** Bytes a process has read (its stdin, for the encoder: the derained frames it was given). */
function bytesRead(pid: number): number {
  return Number(/^rchar: (\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
}

/**
 * `derain run` on a 750-frame clip; `signal` is sent to its inference process once some tens of
 * frames were derained. Resolves with the one error line, the inference pid, and what was kept.
 */
async function runWithSignal(signal: NodeJS.Signals): Promise<{ error: string; pid: number; framesKept: number; ms: number }> {
  const dir = tmpDir();
  const clip = path.join(dir, 'long.mp4');
  makeClip(clip, { width: 640, height: 360, frames: 750 });
  const out = path.join(dir, 'out.mp4');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts'), 'run', clip, '-o', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  try {
    const pid = await waitFor('the inference process', () => childOf(child.pid!, 'infer-process'), 30_000, 100);
    const encoder = await waitFor('the encoder', () => childOf(child.pid!, 'out.mp4.partial'), 30_000, 100);
    // some tens of derained frames have reached the encoder
    await waitFor('derained frames', () => bytesRead(encoder) > 30 * 640 * 360 * 3, 60_000, 50);
    const t0 = Date.now();
    process.kill(pid, signal);
    const code = await exited;
    const ms = Date.now() - t0;
    assert.equal(code, 1, stderr);
    const errors = stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('derain: error'));
    assert.equal(errors.length, 1, stderr);
    const kept = path.join(dir, 'out.incomplete.mp4');
    const m = / \(the (\d+) frames done are kept in (.+)\)$/.exec(errors[0]);
    assert.ok(m, errors[0]);
    assert.equal(m[2], kept);
    const framesKept = Number(m[1]);
    assert.ok(framesKept >= 30 && framesKept < 750, errors[0]);
    assert.equal(countFrames(kept).frames, framesKept);
    assert.ok(!existsSync(out));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.partial')),
      [],
      'no partial file left',
    );
    return { error: errors[0], pid, framesKept, ms };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

test('derain run: the inference process killed mid-run fails the job with one clear error and keeps the frames done as .incomplete', { timeout: 120_000 }, async (t) => {
  const { error, pid, framesKept } = await runWithSignal('SIGKILL');
  t.diagnostic(error);
  assert.match(error, new RegExp(`^derain: error: inference failed on frame ${framesKept + 1}: inference process ${pid} died \\(signal SIGKILL\\) \\(the`));
});

test('derain run: a stopped inference process fails the job at its frame deadline, with what was done kept', { timeout: 120_000 }, async (t) => {
  const { error, pid, framesKept, ms } = await runWithSignal('SIGSTOP');
  t.diagnostic(`${error} (${ms} ms after SIGSTOP)`);
  assert.match(error, new RegExp(`^derain: error: inference failed on frame ${framesKept + 1}: inference process ${pid} hung \\(no result in 10\\.0 s\\), killed \\(the`));
  assert.ok(ms >= 9_000 && ms < 30_000, `failed ${ms} ms after SIGSTOP`);
});
