// Records a stream to MP4 files of a fixed length (<dir>/<id>-YYYYmmdd-HHMMSS.mp4). The MP4s
// are fragmented, so a file stays playable up to its last fragment even if the process is
// killed; a normal shutdown finishes the current file. A recording that fails (the folder
// gone, unwritable or full) stops with its state reported and is tried again with back-off,
// the stream going on meanwhile; the files already written stay as they are.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Frame, Sink } from '../../frame.js';
import type { OutputStatus } from '../../protocol/api.js';
import { RestartingEncoder } from '../restarting-encoder.js';

export interface RecorderOptions {
  dir: string;
  id: string;
  segmentSeconds: number;
  width: number;
  height: number;
  fps: number;
  /** a frame skipped the recording because its encoder was still busy with the last one */
  onSkip?: () => void;
  onChange?: (status: OutputStatus) => void;
  log?: (msg: string) => void;
}

// Files are named to the second: a restart within a second of the file it follows would
// reuse that file's name and overwrite it, so the shortest back-off (half the initial) is 1 s.
const BACKOFF = { initialMs: 2000, maxMs: 30_000 };

/**
 * Why a recording's encoder failed: ffmpeg's first error line is the trailer it could not write
 * ("Invalid argument"), the cause is in the lines before ("Failed to open segment 'x.mp4'",
 * "av_interleaved_write_frame(): No space left on device").
 */
export function recordingFailure(stderr: string): string | null {
  const file = /Failed to open segment '([^']+)'/.exec(stderr)?.[1];
  const why = /^(?:av_interleaved_write_frame|avio_open\w*|write_packet)\(\): (.+)$/m.exec(stderr)?.[1]?.trim();
  if (file) return `cannot make ${file}${why ? `: ${why}` : ''}`;
  return why ? `cannot write the file: ${why}` : null;
}

export class SegmentRecorder implements Sink {
  private readonly encoder: RestartingEncoder;

  constructor(private readonly opts: RecorderOptions) {
    const { width, height, fps } = opts;
    this.encoder = new RestartingEncoder({
      name: `recording of ${opts.id}`,
      prepare: () => {
        try {
          mkdirSync(opts.dir, { recursive: true });
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          // (recursive mkdir of a path that is a file says only EEXIST)
          throw new Error(`cannot make the folder ${opts.dir}: ${e.code === 'EEXIST' ? 'a file is in its place' : e.message}`, { cause: err });
        }
      },
      encoder: {
        width,
        height,
        fps,
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
      explain: recordingFailure,
      backoff: BACKOFF,
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
    return this.encoder.close(3000);
  }
}
