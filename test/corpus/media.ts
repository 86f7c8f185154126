// Bad inputs for the malformed-input corpus, made at test time in a temporary folder: real
// ffmpeg for the media, hand-written headers where a file must lie about itself (Y4M declares
// its size and frame rate in plain text), the built-in model with its input changed.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildBuiltinModel } from '../../src/infer/builtin-model.ts';
import { encodeModel, onnx } from '../../src/infer/onnx-proto.ts';
import type { ModelProto } from '../../src/infer/onnx-proto.ts';
import { ffmpeg, makeClip, tmpDir } from '../helpers.ts';

export const W = 64;
export const H = 48;
export const FRAMES = 10;

export class Materials {
  readonly dir = tmpDir();
  /** a good clip, H.264 in MP4 */
  readonly clip: string;

  /** where each case gets a folder of its own for its output */
  readonly runs: string;

  constructor() {
    this.runs = path.join(this.dir, 'runs');
    mkdirSync(this.runs);
    this.clip = path.join(this.dir, 'good.mp4');
    makeClip(this.clip, { width: W, height: H, frames: FRAMES });
  }

  path(name: string): string {
    return path.join(this.dir, name);
  }

  write(name: string, data: string | Uint8Array): string {
    const p = this.path(name);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, data);
    return p;
  }

  /** The first `share` of a file made by `make` (a copy cut short). */
  cut(name: string, share: number, make: (file: string) => void): string {
    const whole = this.path(`whole-${name}`);
    make(whole);
    const bytes = readFileSync(whole);
    return this.write(name, bytes.subarray(0, Math.floor(bytes.length * share)));
  }

  /** `ffmpeg -f lavfi testsrc` into `name` with the codec arguments given. */
  encode(name: string, codec: string[], frames = FRAMES): string {
    const p = this.path(name);
    ffmpeg(['-f', 'lavfi', '-i', `testsrc=size=${W}x${H}:rate=25`, '-frames:v', String(frames), ...codec, p]);
    return p;
  }

  /** One second of a sine tone, and no video. */
  audio(name: string): string {
    const p = this.path(name);
    ffmpeg(['-f', 'lavfi', '-i', 'sine=d=1', '-c:a', 'aac', p]);
    return p;
  }

  /** A YUV4MPEG2 file: any size and rate in its header, `frames` frames of `frameBytes` (a whole 4:2:0 frame by default). */
  y4m(name: string, opts: { width: number; height: number; rate: string; frames?: number; frameBytes?: number }): string {
    const size = opts.frameBytes ?? (opts.width * opts.height * 3) / 2;
    const frame = Buffer.concat([Buffer.from('FRAME\n'), Buffer.alloc(size, 0x80)]);
    const header = Buffer.from(`YUV4MPEG2 W${opts.width} H${opts.height} F${opts.rate} Ip A1:1 C420jpeg\n`);
    return this.write(name, Buffer.concat([header, ...Array<Buffer>(opts.frames ?? 5).fill(frame)]));
  }

  /** The built-in model, its graph changed by `mutate`, as an ONNX file. */
  model(name: string, mutate: (m: ModelProto) => void = () => {}): string {
    const m = buildBuiltinModel({ seed: 3 });
    mutate(m);
    return this.write(name, encodeModel(m));
  }
}

/** The first graph input's declared type, to be changed. */
export function inputType(m: ModelProto) {
  return m.graph!.input![0].type!.tensorType!;
}

export function dims(...values: (number | string)[]) {
  return values.map((v) => new onnx.TensorShapeProto.Dimension(typeof v === 'number' ? { dimValue: v } : { dimParam: v }));
}
