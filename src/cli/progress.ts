// A frame counter on stderr for the benchmark commands, on a terminal only (not in CI or a pipe).
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
