// How a corpus case is run and judged. The CLI's main() runs each command line in a batch
// process (cli-batch.ts: one start-up for many cases), and "one clear error" is checked the same
// way for every case: the exit code, exactly one `derain: error:` line that matches, no stack
// trace, no "(set DEBUG=1" (the mark of an error nobody expected), within a time limit (no
// hang), nothing left running once it returned (no hang of a real process at exit), nothing
// left at the output path unless the case keeps it on purpose, and no secret of the case in
// anything printed.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BatchRequest, BatchResult } from './cli-batch.ts';

const BATCH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli-batch.ts');

export interface CliCase<C> {
  name: string;
  /** the derain arguments (command first); `out` is an unused path in a folder of the case's own */
  args(ctx: C, out: string): string[] | Promise<string[]>;
  code: 0 | 1 | 2;
  /** the error line (exit ≠ 0), or a line of the report (exit 0) */
  message: RegExp;
  /** what must appear nowhere in the output */
  secrets?: string[];
  withinMs?: number;
  /** files the run may leave in its folder (what was done before it failed, kept) */
  keeps?: RegExp;
  /** more checks once the run is over */
  after?(ctx: C, r: BatchResult, outDir: string): void;
}

/** Batch processes, so cases run at once: one per core, and one more for those waiting on a network. */
export const CLI_CONCURRENCY = Math.min(4, Math.max(2, os.availableParallelism() + 1));

/** One batch process: its commands one at a time; a command that hangs or crashes ends it. */
class Batch {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  private log = '';
  private waiting: { resolve(r: BatchResult): void; reject(e: Error): void } | null = null;
  private ended: string | null = null;

  constructor() {
    // (the small built-in model unless a case names one, as for every CLI test: see test/helpers.ts)
    const env = { ...process.env, DERAIN_DEFAULT_MODEL: process.env.DERAIN_DEFAULT_MODEL ?? 'builtin-tiny' };
    this.child = fork(BATCH, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env });
    for (const s of [this.child.stdout!, this.child.stderr!]) s.setEncoding('utf8').on('data', (d: string) => (this.log = (this.log + d).slice(-4000)));
    this.ready = new Promise((resolve, reject) => {
      this.child.once('message', () => resolve());
      this.child.once('exit', () => reject(new Error(`the batch process did not start:\n${this.log}`)));
    });
    this.child.on('message', (m: BatchResult) => {
      if ('id' in m) this.waiting?.resolve(m);
    });
    this.child.on('exit', (code, signal) => {
      this.ended = `the batch process exited (${signal ?? code}) while running this command: a crash\n${this.log}`;
      this.waiting?.reject(new Error(this.ended));
    });
    all.add(this);
  }

  get alive(): boolean {
    return this.ended === null;
  }

  async run(args: string[], timeoutMs: number): Promise<BatchResult> {
    await this.ready;
    const req: BatchRequest = { id: Math.random(), args };
    try {
      return await new Promise<BatchResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.child.kill('SIGKILL');
          reject(new Error(`derain ${args.join(' ')} hung: no answer within ${timeoutMs} ms\n${this.log}`));
        }, timeoutMs);
        this.waiting = {
          resolve: (r) => (clearTimeout(timer), resolve(r)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        };
        this.child.send(req);
      });
    } finally {
      this.waiting = null;
    }
  }

  close(): void {
    this.ended ??= 'closed';
    if (this.child.connected) this.child.disconnect();
  }
}

const all = new Set<Batch>();
// (at the top level of the test file that imports this: once its tests are over)
after(() => {
  for (const b of all) b.close();
});

const free: Batch[] = [];
let started = 0;
const queued: ((b: Batch) => void)[] = [];

async function withBatch<T>(fn: (b: Batch) => Promise<T>): Promise<T> {
  let b = free.pop();
  if (!b && started < CLI_CONCURRENCY) {
    started++;
    b = new Batch();
  }
  b ??= await new Promise<Batch>((r) => queued.push(r));
  try {
    return await fn(b);
  } finally {
    const next = b.alive ? b : new Batch();
    const waiter = queued.shift();
    if (waiter) waiter(next);
    else free.push(next);
  }
}

let n = 0;

export async function runCliCase<C>(c: CliCase<C>, ctx: C, root: string): Promise<void> {
  const outDir = path.join(root, `case-${n++}`);
  mkdirSync(outDir);
  const out = path.join(outDir, 'out.mp4');
  const args = await c.args(ctx, out);
  const limit = c.withinMs ?? 60_000;
  const t0 = Date.now();
  const r = await withBatch((b) => b.run(args, limit));
  const ms = Date.now() - t0;
  const all = `${r.stderr}\n${r.stdout}`;
  assert.equal(r.code, c.code, `exit code (after ${ms} ms):\n${r.stderr}`);
  assert.deepEqual(r.leftOpen, [], 'nothing is left running once the command returned');
  assert.doesNotMatch(all, /\n\s+at \S/, 'no stack trace');
  assert.doesNotMatch(all, /set DEBUG=1/, 'no unexpected error');
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('derain: error:'));
  if (c.code === 0) {
    assert.deepEqual(errors, [], r.stderr);
    assert.ok(
      r.stderr.split('\n').some((l) => c.message.test(l)),
      `a line matching ${c.message}:\n${r.stderr}`,
    );
  } else {
    assert.equal(errors.length, 1, `one error line:\n${r.stderr}`);
    assert.match(errors[0], c.message);
    // (a failed run has nothing at its output path that looks complete)
    assert.ok(!existsSync(out), `${out} is left after a failed run`);
  }
  const left = readdirSync(outDir).filter((f) => !(c.code === 0 && f === 'out.mp4') && !c.keeps?.test(f));
  assert.deepEqual(left, [], 'nothing is left behind but what the case keeps');
  for (const s of c.secrets ?? []) assert.ok(!all.includes(s), `"${s}" is shown:\n${all}`);
  c.after?.(ctx, r, outDir);
}
