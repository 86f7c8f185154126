// The binary header in front of every frame sent on /ws/<id> (little-endian, 40 bytes):
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

export const HEADER_BYTES = 40;
export const MAGIC = 'DRNF';
export const FORMATS = { rgb24: 1, jpeg: 2 } as const;
export type WsFormat = keyof typeof FORMATS;
export const FLAG_STALE = 1;

export interface FrameHeader {
  format: WsFormat;
  stale: boolean;
  seq: number;
  pts: number;
  capturedAt: number;
  width: number;
  height: number;
}

export function encodeHeader(h: FrameHeader): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.write(MAGIC, 0, 'latin1');
  b.writeUInt8(1, 4);
  b.writeUInt8(FORMATS[h.format], 5);
  b.writeUInt8(h.stale ? FLAG_STALE : 0, 6);
  b.writeUInt8(HEADER_BYTES, 7);
  b.writeBigUInt64LE(BigInt(h.seq), 8);
  b.writeDoubleLE(h.pts, 16);
  b.writeDoubleLE(h.capturedAt, 24);
  b.writeUInt32LE(h.width, 32);
  b.writeUInt32LE(h.height, 36);
  return b;
}

/** Reads a message: the header and the payload after it. */
export function decodeFrame(msg: Buffer): { header: FrameHeader; payload: Buffer } {
  if (msg.length < 8 || msg.toString('latin1', 0, 4) !== MAGIC) throw new Error('not a derain frame (bad magic)');
  const len = msg.readUInt8(7);
  const code = msg.readUInt8(5);
  const format = (Object.keys(FORMATS) as WsFormat[]).find((k) => FORMATS[k] === code);
  if (!format) throw new Error(`unknown frame format ${code}`);
  return {
    header: {
      format,
      stale: (msg.readUInt8(6) & FLAG_STALE) !== 0,
      seq: Number(msg.readBigUInt64LE(8)),
      pts: msg.readDoubleLE(16),
      capturedAt: msg.readDoubleLE(24),
      width: msg.readUInt32LE(32),
      height: msg.readUInt32LE(36),
    },
    payload: msg.subarray(len),
  };
}
