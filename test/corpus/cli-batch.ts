// A child process that runs derain command lines one after another through the CLI's own
// main() (src/cli.ts, what the bin runs), for the corpus: a fresh process per case would cost
// two seconds of start-up, most of the corpus's time. Each command's stdout and stderr are
// taken as it runs; then the process must be back to the handles it had before the command
// (a child, socket, timer or worker left behind would keep a real `derain` from exiting: a
// hang). A crash ends this process, and the parent says which command it was running.
import { main } from '../../src/cli.ts';

export interface BatchRequest {
  id: number;
  args: string[];
}

export interface BatchResult {
  id: number;
  code: number;
  stdout: string;
  stderr: string;
  /** what the command left running, as process.getActiveResourcesInfo() names it */
  leftOpen: string[];
}

// (each `derain run` adds a SIGINT listener: many runs in one process are not a leak to warn of)
process.setMaxListeners(0);

function counts(names: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of names) m.set(n, (m.get(n) ?? 0) + 1);
  return m;
}

// (taken when the first command comes: the IPC channel is in use by then)
let baseline: Map<string, number> | null = null;

function extra(): string[] {
  baseline ??= counts(process.getActiveResourcesInfo());
  const before = baseline;
  const now = counts(process.getActiveResourcesInfo());
  return [...now].filter(([k, v]) => v > (before.get(k) ?? 0)).map(([k, v]) => `${k} x${v - (before.get(k) ?? 0)}`);
}

/** What the command left open once it has had `graceMs` to let go of it (a process takes a moment to be reaped). */
async function leftOpen(graceMs: number): Promise<string[]> {
  const until = Date.now() + graceMs;
  for (;;) {
    const left = extra();
    if (left.length === 0 || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 50).unref());
  }
}

async function runOne(req: BatchRequest): Promise<BatchResult> {
  extra();
  const out: string[] = [];
  const err: string[] = [];
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const take = (into: string[]) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = take(out);
  process.stderr.write = take(err);
  let code: number;
  try {
    code = await main(['node', 'derain', ...req.args]);
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
  return { id: req.id, code, stdout: out.join(''), stderr: err.join(''), leftOpen: await leftOpen(3000) };
}

let queue = Promise.resolve();
process.on('message', (req: BatchRequest) => {
  queue = queue.then(async () => {
    process.send!(await runOne(req));
  });
});
// (the parent closing the channel is the end)
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
