// How a pipeline run can end badly. Typed, so the CLI alone decides exit codes and wording.

/** Inference failed on a frame (files: at once; live: `times` failures in a row). */
export class InferenceFailed extends Error {
  override name = 'InferenceFailed';
  constructor(
    /** 1-based, in decode order */
    readonly frame: number,
    readonly cause: Error,
    readonly times = 1,
  ) {
    super(`inference failed on frame ${frame}${times > 1 ? ` (${times} frames in a row)` : ''}: ${firstLine(cause.message).replace(/^inference failed: /, '')}`);
  }
}

/** Stopped by the user (Ctrl-C) before the end of the input. */
export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor(readonly framesOut: number) {
    super(`interrupted after ${framesOut} frames`);
  }
}

/** A file that declares more frames than could be decoded: truncated or corrupt. */
export class InputEndedEarly extends Error {
  override name = 'InputEndedEarly';
  constructor(
    readonly framesIn: number,
    readonly expected: number,
    /** what the decoder said of the input, when it said anything */
    decoderSaid?: string | null,
  ) {
    super(`the input ended early: ${framesIn} of the ${expected} frames it declares could be decoded (truncated or corrupt file${decoderSaid ? `; ffmpeg: ${decoderSaid}` : ''})`);
  }
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim()) ?? text;
}
