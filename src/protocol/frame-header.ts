// The binary header in front of every frame sent on /ws/<id> (little-endian, 40 bytes), written
// by the server and read by the dashboard and detector clients:
//
//   offset size  field
//    0     4     magic "DRNF"
//    4     1     version (1)
//    5     1     format: 1 = rgb24 (width·height·3 bytes, rows top to bottom), 2 = jpeg
//    6     1     flags: bit 0 = stale (the last good frame repeated while the camera is down)
//    7     1     header length in bytes (40): readers skip to it, so later versions can append fields
//    8     8     seq, uint64: the frame's number in the stream (repeats keep the number)
//   16     8     pts, float64: seconds since the stream started
//   24     8     capturedAt, float64: ms since the Unix epoch when the frame was decoded
//   32     4     width, uint32
//   36     4     height, uint32
//
// then the payload. Text messages are JSON (the first is {"type":"hello", ...}).
// Plain DataView code: no Node or DOM types, so the server and the browser share it.

export const HEADER_BYTES = 40;
const MAGIC = [0x44, 0x52, 0x4e, 0x46]; // "DRNF"
export const FORMATS = { rgb24: 1, jpeg: 2 } as const;
export type WsFormat = keyof typeof FORMATS;
const FLAG_STALE = 1;

export interface FrameHeader {
  format: WsFormat;
  /** the last good frame repeated while the camera is down */
  stale: boolean;
  seq: number;
  /** seconds since the stream started */
  pts: number;
  /** ms since the Unix epoch when the server decoded the frame */
  capturedAt: number;
  width: number;
  height: number;
}

/** Writes the header into the first HEADER_BYTES of `into`. */
export function writeFrameHeader(into: Uint8Array, h: FrameHeader): void {
  const v = new DataView(into.buffer, into.byteOffset, HEADER_BYTES);
  MAGIC.forEach((b, i) => v.setUint8(i, b));
  v.setUint8(4, 1);
  v.setUint8(5, FORMATS[h.format]);
  v.setUint8(6, h.stale ? FLAG_STALE : 0);
  v.setUint8(7, HEADER_BYTES);
  v.setBigUint64(8, BigInt(h.seq), true);
  v.setFloat64(16, h.pts, true);
  v.setFloat64(24, h.capturedAt, true);
  v.setUint32(32, h.width, true);
  v.setUint32(36, h.height, true);
}

/** Reads a message's header; `headerBytes` is where the payload starts. */
export function readFrameHeader(msg: Uint8Array): FrameHeader & { headerBytes: number } {
  if (msg.byteLength < HEADER_BYTES) throw new Error(`frame message too short (${msg.byteLength} bytes)`);
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  for (let i = 0; i < 4; i++) if (v.getUint8(i) !== MAGIC[i]) throw new Error('not a derain frame (bad magic)');
  const code = v.getUint8(5);
  const format = (Object.keys(FORMATS) as WsFormat[]).find((k) => FORMATS[k] === code);
  if (!format) throw new Error(`unknown frame format ${code}`);
  const headerBytes = v.getUint8(7);
  if (headerBytes < HEADER_BYTES || headerBytes > msg.byteLength) throw new Error(`bad header length ${headerBytes}`);
  return {
    format,
    stale: (v.getUint8(6) & FLAG_STALE) !== 0,
    seq: Number(v.getBigUint64(8, true)),
    pts: v.getFloat64(16, true),
    capturedAt: v.getFloat64(24, true),
    width: v.getUint32(32, true),
    height: v.getUint32(36, true),
    headerBytes,
  };
}
