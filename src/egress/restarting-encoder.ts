// An encoder output that heals itself (RTSP publishing, recording): a LiveEncoder started again
// with back-off whenever it exits on its own (its server went away, its folder cannot be
// written), its state kept for the API. Frames that come while it is down skip it.
import type { Frame } from '../frame.js';
import { redactUrl } from '../errors.js';
import type { OutputStatus } from '../protocol/api.js';
import { backoffDelay, type BackoffOptions } from '../ingest/backoff.js';
import { LiveEncoder, type LiveEncoderOptions } from './live-encoder.js';

/** An encoder started again that still runs after this is working. */
const CONFIRM_MS = 1000;

export interface RestartingEncoderOptions {
  /** for log lines: "RTSP output rtsp://…/yard", "recording of yard" */
  name: string;
  encoder: LiveEncoderOptions;
  /** run before each start (the recording folder made); what it throws is a failed start */
  prepare?: () => void;
  /** why the encoder failed, from its stderr, where the output knows better than ffmpeg's first error line (null: it does not) */
  explain?: (stderr: string) => string | null;
  backoff: BackoffOptions;
  /** a run that lasted this long was a working one: the back-off starts over */
  workedAfterMs?: number;
  log?: (msg: string) => void;
  /** the state changed (failed, retrying, running again) */
  onChange?: (status: OutputStatus) => void;
}

/** What became of a frame: taken, skipped because the encoder is still busy, or skipped because the output is down. */
export type WriteResult = 'written' | 'busy' | 'down';

export class RestartingEncoder {
  private encoder: LiveEncoder | null = null;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private startedAt = 0;
  private readonly health: OutputStatus = { state: 'running', restarts: 0, lastError: null, retryAt: null };

  constructor(private readonly opts: RestartingEncoderOptions) {
    this.start();
    opts.onChange?.(this.status());
  }

  status(): OutputStatus {
    return { ...this.health };
  }

  private start(): void {
    const { opts } = this;
    this.startedAt = Date.now();
    const retry = this.health.state === 'retrying';
    if (retry) {
      this.health.restarts++;
      opts.onChange?.(this.status());
    }
    try {
      opts.prepare?.();
    } catch (err) {
      return this.failed((err as Error).message);
    }
    const encoder = new LiveEncoder(opts.encoder, (code, reason, expected, stderr) => {
      if (expected || this.closed) return;
      this.encoder = null;
      this.failed(opts.explain?.(stderr) ?? (reason || `exit ${code}`));
    });
    this.encoder = encoder;
    if (!retry) return;
    // A server that refuses, a file that cannot be opened: ffmpeg exits within moments of its
    // first frame. One that still runs a while later works (and the state says so only then).
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed || this.encoder !== encoder || !encoder.alive) return;
      this.health.state = 'running';
      this.health.retryAt = null;
      opts.log?.(`${opts.name} works again (restart ${this.health.restarts})`);
      opts.onChange?.(this.status());
    }, CONFIRM_MS);
  }

  private failed(reason: string): void {
    const { opts } = this;
    if (this.timer) clearTimeout(this.timer);
    if (Date.now() - this.startedAt > (opts.workedAfterMs ?? 30_000)) this.failures = 0;
    const delay = backoffDelay(++this.failures, opts.backoff);
    reason = redactUrl(reason);
    this.health.state = 'retrying';
    this.health.lastError = reason;
    this.health.retryAt = new Date(Date.now() + delay).toISOString();
    opts.log?.(`${opts.name} stopped (${reason}); restarting in ${(delay / 1000).toFixed(1)} s`);
    opts.onChange?.(this.status());
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed) this.start();
    }, delay);
  }

  write(frame: Frame): WriteResult {
    if (!this.encoder?.alive) return 'down';
    return this.encoder.write(frame) ? 'written' : 'busy';
  }

  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.encoder?.close(timeoutMs);
  }
}
