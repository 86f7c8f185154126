// Byte framing of one RTSP connection that also carries RTP (RFC 2326 §10.12): media goes as
// `$`, a channel byte, a 16-bit length and the packet, between whole RTSP messages. Two things
// must hold for that: a `$` frame never lands inside an RTSP message we send, and the frames a
// reader sends us (its RTCP reports) never reach the RTSP request parser.
import { Transform, type TransformCallback } from 'node:stream';

const DOLLAR = 0x24;
// An RTSP header that never ends is passed on as it is (the parser rejects it) instead of being
// held here without bound.
const MAX_HEADER_BYTES = 16 * 1024;

export function interleavedFrame(channel: number, packet: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + packet.length);
  out[0] = DOLLAR;
  out[1] = channel;
  out.writeUInt16BE(packet.length, 2);
  packet.copy(out, 4);
  return out;
}

/** Where the header of the RTSP message at the start of `buf` ends, and its body's length; null while incomplete. */
function messageHead(buf: Buffer): { headerEnd: number; bodyLength: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return null;
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf + 2;
  const length = /^content-length:\s*(\d+)/im.exec(buf.subarray(0, end).toString('latin1'));
  return { headerEnd: end, bodyLength: length ? Number(length[1]) : 0 };
}

/**
 * Sits between a socket and the RTSP request parser: RTSP messages pass, interleaved frames are
 * taken out and only announced (their channel), since a reader's RTCP is only a sign of life.
 */
export class InterleavedDemuxer extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  /** bytes of the current frame (to drop) or RTSP body (to pass) still to come */
  private skip = 0;
  private passBody = 0;

  constructor(private readonly onFrame: (channel: number) => void) {
    super();
  }

  // The parser downstream throws on a malformed request line, from inside our push: it is
  // handed back as this stream's error, for the connection to be closed, not the process.
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.demux(chunk);
    } catch (err) {
      return done(err as Error);
    }
    done();
  }

  private demux(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (buf.length) {
      if (this.skip) {
        const n = Math.min(this.skip, buf.length);
        this.skip -= n;
        buf = buf.subarray(n);
      } else if (this.passBody) {
        const n = Math.min(this.passBody, buf.length);
        this.passBody -= n;
        this.push(buf.subarray(0, n));
        buf = buf.subarray(n);
      } else if (buf[0] === DOLLAR) {
        if (buf.length < 4) break;
        this.onFrame(buf[1]);
        this.skip = 4 + buf.readUInt16BE(2);
      } else {
        const head = messageHead(buf);
        if (!head) {
          if (buf.length <= MAX_HEADER_BYTES) break;
          this.push(buf);
          buf = buf.subarray(buf.length);
          continue;
        }
        this.push(buf.subarray(0, head.headerEnd));
        this.passBody = head.bodyLength;
        buf = buf.subarray(head.headerEnd);
      }
    }
    if (buf.length) this.pending = Buffer.from(buf);
  }
}

/**
 * Collects what the RTSP library writes (a response arrives in many small pieces, some a tick
 * apart) and hands each complete message on as one buffer, so media written in between goes
 * before or after it, never inside.
 */
export class WholeMessageWriter {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly send: (message: Buffer) => void) {}

  push(chunk: Buffer | string, encoding: BufferEncoding = 'utf8'): void {
    const piece = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    this.pending = this.pending.length ? Buffer.concat([this.pending, piece]) : piece;
    for (;;) {
      const head = messageHead(this.pending);
      if (!head) {
        if (this.pending.length > MAX_HEADER_BYTES) this.flush();
        return;
      }
      const total = head.headerEnd + head.bodyLength;
      if (this.pending.length < total) return;
      this.send(this.pending.subarray(0, total));
      this.pending = this.pending.subarray(total);
    }
  }

  private flush(): void {
    this.send(this.pending);
    this.pending = Buffer.alloc(0);
  }
}
