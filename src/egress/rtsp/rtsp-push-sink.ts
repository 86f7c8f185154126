// Publishes a stream over RTSP: ffmpeg encodes H.264 (-tune zerolatency) and pushes it to the
// embedded server or an external one (MediaMTX...). An encoder that dies (the server went
// away) is restarted with back-off; frames that arrive meanwhile skip this output.
import type { Frame, Sink } from '../../frame.js';
import { redactUrl } from '../../errors.js';
import { backoffDelay } from '../../ingest/backoff.js';
import { LiveEncoder } from '../live-encoder.js';

export interface RtspPushOptions {
  url: string;
  /** the embedded server takes publishers over UDP only; external servers get TCP */
  transport: 'udp' | 'tcp';
  width: number;
  height: number;
  fps: number;
  /** a frame skipped this output (encoder busy or restarting) */
  onSkip?: () => void;
  log?: (msg: string) => void;
}

export class RtspPushSink implements Sink {
  private encoder: LiveEncoder | null = null;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private startedAt = 0;

  constructor(private readonly opts: RtspPushOptions) {
    this.spawn();
  }

  private spawn(): void {
    const { opts } = this;
    this.startedAt = Date.now();
    this.encoder = new LiveEncoder(
      { width: opts.width, height: opts.height, fps: opts.fps, preset: 'ultrafast', output: ['-f', 'rtsp', '-rtsp_transport', opts.transport, opts.url] },
      (code, reason, expected) => {
        if (expected || this.closed) return;
        // A run that lasted a while was a working connection: start the back-off over.
        if (Date.now() - this.startedAt > 30_000) this.failures = 0;
        const delay = backoffDelay(++this.failures, { initialMs: 500, maxMs: 10_000 });
        opts.log?.(`RTSP output ${redactUrl(opts.url)} stopped (${reason || `exit ${code}`}); restarting in ${(delay / 1000).toFixed(1)} s`);
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          if (!this.closed) this.spawn();
        }, delay);
      },
    );
  }

  write(frame: Frame): void {
    if (!this.encoder?.write(frame)) this.opts.onSkip?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.encoder?.close(2000);
  }
}
