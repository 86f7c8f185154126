// Publishes a stream over RTSP: ffmpeg encodes H.264 (-tune zerolatency) and pushes it to the
// embedded server or an external one (MediaMTX...). An encoder that dies (the server went
// away) is restarted with back-off; frames that arrive meanwhile skip this output.
import type { Frame, Sink } from '../../frame.js';
import { redactUrl } from '../../errors.js';
import type { OutputStatus } from '../../protocol/api.js';
import { RestartingEncoder } from '../restarting-encoder.js';

export interface RtspPushOptions {
  url: string;
  /** the embedded server takes publishers over UDP only; external servers get TCP */
  transport: 'udp' | 'tcp';
  width: number;
  height: number;
  fps: number;
  /** a frame skipped this output because its encoder was still busy with the last one */
  onSkip?: () => void;
  onChange?: (status: OutputStatus) => void;
  log?: (msg: string) => void;
}

export class RtspPushSink implements Sink {
  private readonly encoder: RestartingEncoder;

  constructor(private readonly opts: RtspPushOptions) {
    const { width, height, fps } = opts;
    this.encoder = new RestartingEncoder({
      name: `RTSP output ${redactUrl(opts.url)}`,
      encoder: { width, height, fps, preset: 'ultrafast', output: ['-f', 'rtsp', '-rtsp_transport', opts.transport, opts.url] },
      backoff: { initialMs: 500, maxMs: 10_000 },
      log: opts.log,
      onChange: opts.onChange,
    });
  }

  status(): OutputStatus {
    return this.encoder.status();
  }

  write(frame: Frame): void {
    if (this.encoder.write(frame) === 'busy') this.opts.onSkip?.();
  }

  close(): Promise<void> {
    return this.encoder.close(2000);
  }
}
