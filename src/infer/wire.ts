// Length-prefixed messages on a byte stream (the inference process's pipe): a JSON header and
// an optional binary body (a frame, the model), so frame bytes are never turned into text.
//   u32 LE header length | u32 LE body length | header (UTF-8 JSON) | body
import type { Writable } from 'node:stream';

export interface WireMessage<H> {
  header: H;
  body: Buffer;
}

const PREFIX = 8;

/** Writes one message; the body must not change until the stream has taken it (callers hand over their own copy). */
export function writeMessage(out: Writable, header: object, body?: Uint8Array): boolean {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.allocUnsafe(PREFIX + json.length);
  head.writeUInt32LE(json.length, 0);
  head.writeUInt32LE(body?.byteLength ?? 0, 4);
  json.copy(head, PREFIX);
  if (!body?.byteLength) return out.write(head);
  out.cork();
  out.write(head);
  const ok = out.write(body);
  out.uncork();
  return ok;
}

/** Cuts a byte stream back into messages. */
export class WireReader<H> {
  private chunks: Buffer[] = [];
  private size = 0;
  private need: { header: number; body: number } | null = null;

  /** The messages completed by `chunk`, in order. */
  push(chunk: Buffer): WireMessage<H>[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const done: WireMessage<H>[] = [];
    for (;;) {
      if (!this.need) {
        if (this.size < PREFIX) break;
        const prefix = this.take(PREFIX);
        this.need = { header: prefix.readUInt32LE(0), body: prefix.readUInt32LE(4) };
      }
      if (this.size < this.need.header + this.need.body) break;
      const header = JSON.parse(this.take(this.need.header).toString('utf8')) as H;
      const body = this.take(this.need.body, true);
      this.need = null;
      done.push({ header, body });
    }
    return done;
  }

  /**
   * The next `n` bytes. A body gets memory of its own (onnxruntime takes it as a tensor, and a
   * view into a read chunk would keep the whole chunk alive); the rest may be a view.
   */
  private take(n: number, own = false): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (n === 0) return Buffer.alloc(0);
    if (!own && first.length >= n) {
      out = first.subarray(0, n);
    } else {
      out = Buffer.allocUnsafeSlow(n);
      let at = 0;
      for (const c of this.chunks) {
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (at === n) break;
      }
    }
    this.drop(n);
    return out;
  }

  private drop(n: number): void {
    this.size -= n;
    while (n > 0) {
      const c = this.chunks[0];
      if (c.length <= n) {
        this.chunks.shift();
        n -= c.length;
      } else {
        this.chunks[0] = c.subarray(n);
        n = 0;
      }
    }
  }
}
