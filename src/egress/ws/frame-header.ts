// The WebSocket frame header (layout in src/protocol/frame-header.ts), with Node Buffers.
import { HEADER_BYTES, readFrameHeader, writeFrameHeader, type FrameHeader } from '../../protocol/frame-header.js';

export { FORMATS, HEADER_BYTES, type FrameHeader, type WsFormat } from '../../protocol/frame-header.js';

export function encodeHeader(h: FrameHeader): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  writeFrameHeader(b, h);
  return b;
}

/** Reads a message: the header and the payload after it. */
export function decodeFrame(msg: Buffer): { header: FrameHeader; payload: Buffer } {
  const { headerBytes, ...header } = readFrameHeader(msg);
  return { header, payload: msg.subarray(headerBytes) };
}
