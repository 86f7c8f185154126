// Records a stream to MP4 files of a fixed length (<dir>/<id>-YYYYmmdd-HHMMSS.mp4). The MP4s
// are fragmented, so a file stays playable up to its last fragment even if the process is
// killed; a normal shutdown finishes the current file.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Frame, Sink } from '../../frame.js';
import { LiveEncoder } from '../live-encoder.js';

export interface RecorderOptions {
  dir: string;
  id: string;
  segmentSeconds: number;
  width: number;
  height: number;
  fps: number;
  onSkip?: () => void;
  log?: (msg: string) => void;
}

export class SegmentRecorder implements Sink {
  private readonly encoder: LiveEncoder;

  constructor(private readonly opts: RecorderOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.encoder = new LiveEncoder(
      {
        width: opts.width,
        height: opts.height,
        fps: opts.fps,
        preset: 'veryfast',
        output: [
          '-f',
          'segment',
          '-segment_time',
          String(opts.segmentSeconds),
          '-reset_timestamps',
          '1',
          '-strftime',
          '1',
          '-segment_format',
          'mp4',
          '-segment_format_options',
          'movflags=+frag_keyframe+empty_moov+default_base_moof',
          path.join(opts.dir, `${opts.id}-%Y%m%d-%H%M%S.mp4`),
        ],
      },
      (code, reason, expected) => {
        if (!expected) opts.log?.(`recording of ${opts.id} stopped: ${reason || `exit ${code}`}`);
      },
    );
  }

  write(frame: Frame): void {
    if (!this.encoder.write(frame)) this.opts.onSkip?.();
  }

  close(): Promise<void> {
    return this.encoder.close(3000);
  }
}
