// Reconnection delays: exponential, capped, with jitter so many cameras that dropped together
// (a switch reboot) do not all reconnect in the same instant.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** The delay before attempt `failures` (1 = the first retry): min(max, initial·2^(n−1)), scaled by a random factor in [0.5, 1]. */
export function backoffDelay(failures: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const base = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.5 + 0.5 * random()));
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
