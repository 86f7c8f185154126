// Keeps a shared session's inference process running: when it dies (a native crash, out of
// memory, a kill) or hangs (a frame past its deadline: the Derainer kills it), a new process
// for the same model takes its place and the session's streams go on.
//
// Back-off: a process that derained frames before it died is replaced at once (a crash in
// the middle of work is not a crash loop, and the streams were live a moment ago); restarts in
// a row whose processes derained nothing (a crash at start-up, on the first frame) wait
// 0.5 s, 1 s, 2 s, … up to 30 s, so a model that cannot run does not spin a CPU on restarts.
import { backoffDelay, sleep, type BackoffOptions } from '../ingest/backoff.js';
import type { Derainer } from '../infer/index.js';
import type { InferenceState, InferenceStatus } from '../protocol/api.js';

export const RESTART_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

export interface KeeperHooks {
  log(msg: string): void;
  /** a process is being started in place of one that ended */
  onRestart(): void;
  /** a process runs again: frames may be handed over */
  onRunning(): void;
}

export class InferenceKeeper {
  private state: InferenceState = 'running';
  private restarts = 0;
  private lastExit: string | null = null;
  /** restarts in a row whose process derained nothing */
  private fruitless = 0;
  private restarting: Promise<void> | null = null;
  private readonly closed = new AbortController();

  constructor(
    private current: Derainer,
    /** names the session in the log */
    private readonly label: string,
    private readonly hooks: KeeperHooks,
  ) {
    this.watch(current);
  }

  get derainer(): Derainer {
    return this.current;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  get stopped(): boolean {
    return this.state === 'stopped';
  }

  status(): InferenceStatus {
    return { pid: this.running ? this.current.pid : null, state: this.state, restarts: this.restarts, lastExit: this.lastExit };
  }

  private watch(d: Derainer): void {
    d.onDeath((err) => this.died(d, err));
  }

  private died(d: Derainer, err: Error): void {
    if (this.state === 'stopped') return;
    this.state = 'restarting';
    this.lastExit = err.message;
    if (d.framesDone > 0) this.fruitless = 0;
    this.hooks.log(`${this.label}: ${err.message}; restarting it`);
    this.restarting = this.restart(d);
  }

  private async restart(dead: Derainer): Promise<void> {
    const { signal } = this.closed;
    while (!signal.aborted) {
      const wait = this.fruitless === 0 ? 0 : backoffDelay(this.fruitless, RESTART_BACKOFF);
      this.fruitless++;
      if (wait) {
        this.hooks.log(`${this.label}: starting a new inference process in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait, signal);
        if (signal.aborted) return;
      }
      this.restarts++;
      this.hooks.onRestart();
      let next: Derainer;
      try {
        next = await dead.reopen();
      } catch (err) {
        this.lastExit = `a new inference process did not start: ${(err as Error).message.split('\n')[0]}`;
        this.hooks.log(`${this.label}: ${this.lastExit}`);
        continue;
      }
      if (signal.aborted) return next.close();
      this.current = next;
      this.state = 'running';
      this.watch(next);
      this.hooks.log(`${this.label}: inference process ${next.pid} started (restart ${this.restarts})`);
      this.hooks.onRunning();
      return;
    }
  }

  /** Stops restarting and closes the process (after the frames it is running). */
  async close(): Promise<void> {
    this.state = 'stopped';
    this.closed.abort();
    await this.restarting;
    await this.current.close();
  }
}
