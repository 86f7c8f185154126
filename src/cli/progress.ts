// How the benchmark commands run and report: stages on stderr, a frame counter there on a
// terminal only (not in CI or a pipe), then one JSON object or a table on stdout.
import cliProgress from 'cli-progress';

export function frameProgress(name: string): { onFrame(done: number, total: number): void; stop(): void } {
  const interactive = process.stderr.isTTY && !process.env.CI;
  let bar: cliProgress.SingleBar | null = null;
  return {
    onFrame(done, total) {
      if (!interactive) return;
      if (!bar) {
        bar = new cliProgress.SingleBar({ format: `${name} [{bar}] {value}/{total} frames | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(total, 0);
      }
      bar.update(done);
    },
    stop() {
      bar?.stop();
    },
  };
}

export interface RunHooks {
  onStage(what: string): void;
  onFrame(done: number, total: number): void;
}

export async function reportRun<S>(name: string, json: boolean | undefined, run: (hooks: RunHooks) => Promise<S>, table: (s: S) => string): Promise<void> {
  const progress = frameProgress(name);
  const summary = await run({ onStage: (what) => process.stderr.write(`derain ${name}: ${what}\n`), onFrame: progress.onFrame }).finally(() => progress.stop());
  process.stdout.write((json ? JSON.stringify(summary) : table(summary)) + '\n');
}
