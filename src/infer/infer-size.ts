// The resolution the model runs at: a user's choice, the model card's recommendation, or the frame's own.
import { size } from '../util/fields.js';
import { SettingsError } from './errors.js';

export interface Size {
  width: number;
  height: number;
}

/** WIDTHxHEIGHT, by the same rule as the config's size fields. */
export function parseSize(text: string, what = 'size'): Size {
  const r = size().safeParse(text);
  if (!r.success) throw new SettingsError(`${what} "${text}" is not WIDTHxHEIGHT (for example 640x360)`);
  return r.data;
}

export interface InferSizeRequest {
  inferSize?: Size;
  scale?: number;
  /** the card's recommendation: frames larger than this are scaled down to fit inside it */
  recommended?: Size;
  /** a model with a fixed input size runs at exactly that size */
  fixed?: Size;
}

export function chooseInferSize(frame: Size, req: InferSizeRequest): Size {
  const fmt = (s: Size) => `${s.width}x${s.height}`;
  const check = (s: Size, what: string): Size => {
    if (s.width > frame.width || s.height > frame.height) throw new SettingsError(`${what} ${fmt(s)} is larger than the input ${fmt(frame)}`);
    return s;
  };
  if (req.scale !== undefined && !(req.scale > 0 && req.scale <= 1)) throw new SettingsError(`--scale ${req.scale} must be in (0, 1]`);
  if (req.fixed) {
    const asked = req.inferSize ?? (req.scale !== undefined ? scaled(frame, req.scale) : undefined);
    if (asked && (asked.width !== req.fixed.width || asked.height !== req.fixed.height))
      throw new SettingsError(`the model only takes ${fmt(req.fixed)} input; inference size ${fmt(asked)} was asked for`);
    return check(req.fixed, 'the model input size');
  }
  if (req.inferSize) return check(req.inferSize, 'inference size');
  if (req.scale !== undefined) return scaled(frame, req.scale);
  if (req.recommended) {
    const s = Math.min(1, req.recommended.width / frame.width, req.recommended.height / frame.height);
    return scaled(frame, s);
  }
  return { ...frame };
}

function scaled(frame: Size, s: number): Size {
  return { width: Math.max(1, Math.round(frame.width * s)), height: Math.max(1, Math.round(frame.height * s)) };
}
