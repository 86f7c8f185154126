// A running JPEG encoder for one stream (WebSocket viewers): raw frames in, one JPEG out per
// frame, each matched to the frame it came from. ffmpeg's multipart output carries each
// image's length, so the stream is cut without scanning the JPEG bytes.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Frame } from '../../frame.js';
import { ffmpegPath, QUIET } from '../../util/ffmpeg.js';

const BOUNDARY = 'derainjpeg';
/** frames handed over and not yet back: one encoding, one waiting */
const MAX_PENDING = 2;

export type FrameMeta = Omit<Frame, 'data'> & { stale?: boolean };

export class JpegStream {
  private readonly child: ChildProcess;
  private readonly pending: FrameMeta[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;

  constructor(
    width: number,
    height: number,
    quality: number,
    private readonly onJpeg: (jpeg: Buffer, meta: FrameMeta) => void,
  ) {
    this.child = spawn(
      ffmpegPath(),
      [
        ...QUIET,
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        '-video_size',
        `${width}x${height}`,
        '-i',
        'pipe:0',
        // one thread, no frame threading: every JPEG comes out as soon as its frame went in
        '-vsync',
        '0',
        '-threads',
        '1',
        '-c:v',
        'mjpeg',
        '-q:v',
        String(quality),
        '-pix_fmt',
        'yuvj420p',
        '-f',
        'mpjpeg',
        '-boundary_tag',
        BOUNDARY,
        '-flush_packets',
        '1',
        'pipe:1',
      ],
      { stdio: ['pipe', 'pipe', 'ignore'], detached: true },
    );
    this.child.stdin!.on('error', () => {});
    this.child.stdout!.on('data', (d: Buffer) => this.parse(d));
    this.child.on('close', () => (this.closed = true));
    this.child.on('error', () => (this.closed = true));
  }

  /** The encoder process is gone (it failed, or was closed). */
  get dead(): boolean {
    return this.closed;
  }

  /** False when the encoder is still busy with earlier frames (the frame is skipped) or gone. */
  write(frame: Frame & { stale?: boolean }): boolean {
    if (this.closed || this.pending.length >= MAX_PENDING) return false;
    const { data: _data, ...meta } = frame;
    this.pending.push(meta);
    this.child.stdin!.write(frame.data);
    return true;
  }

  private parse(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const headEnd = this.buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = this.buf.subarray(0, headEnd).toString('latin1');
      const m = /content-length:\s*(\d+)/i.exec(head);
      if (!m) {
        // not a part header (cannot happen with ffmpeg's muxer): resynchronise on the next boundary
        this.buf = this.buf.subarray(headEnd + 4);
        continue;
      }
      const len = Number(m[1]);
      const start = headEnd + 4;
      if (this.buf.length < start + len) return;
      const jpeg = Buffer.from(this.buf.subarray(start, start + len));
      this.buf = this.buf.subarray(start + len);
      const meta = this.pending.shift();
      if (meta) this.onJpeg(jpeg, meta);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 1000);
    this.child.once('close', () => clearTimeout(t));
  }
}
