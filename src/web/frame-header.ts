// Reads the binary header the server puts in front of every frame on /ws/<id>
// (src/egress/ws/frame-header.ts has the layout). Little-endian; readers skip to the header
// length the message declares, so later versions can append fields.

export type FrameFormat = 'rgb24' | 'jpeg';

export interface FrameHeader {
  format: FrameFormat;
  /** the last good frame repeated while the camera is down */
  stale: boolean;
  seq: number;
  /** seconds since the stream started */
  pts: number;
  /** ms since the Unix epoch when the server decoded the frame */
  capturedAt: number;
  width: number;
  height: number;
  /** where the payload starts */
  headerBytes: number;
}

const MAGIC = [0x44, 0x52, 0x4e, 0x46]; // "DRNF"
const FORMATS: Record<number, FrameFormat> = { 1: 'rgb24', 2: 'jpeg' };
const MIN_HEADER = 40;

export function parseFrameHeader(buf: ArrayBuffer): FrameHeader {
  if (buf.byteLength < MIN_HEADER) throw new Error(`frame message too short (${buf.byteLength} bytes)`);
  const v = new DataView(buf);
  for (let i = 0; i < 4; i++) if (v.getUint8(i) !== MAGIC[i]) throw new Error('not a derain frame (bad magic)');
  const format = FORMATS[v.getUint8(5)];
  if (!format) throw new Error(`unknown frame format ${v.getUint8(5)}`);
  const headerBytes = v.getUint8(7);
  if (headerBytes < MIN_HEADER || headerBytes > buf.byteLength) throw new Error(`bad header length ${headerBytes}`);
  return {
    format,
    stale: (v.getUint8(6) & 1) !== 0,
    seq: Number(v.getBigUint64(8, true)),
    pts: v.getFloat64(16, true),
    capturedAt: v.getFloat64(24, true),
    width: v.getUint32(32, true),
    height: v.getUint32(36, true),
    headerBytes,
  };
}
