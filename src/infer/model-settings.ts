// The settings that choose and run a model, declared once: `derain run`, `derain eval`, the
// service's YAML config and its shared sessions all read them through this schema, so a default
// or a range lives in one place.
import { z } from 'zod';
import { num, size } from '../util/fields.js';
import type { Size } from './infer-size.js';
import { EP_CHOICES, type EpChoice } from './session.js';

export interface ModelSettings {
  /** a model name, a folder with card.json or an ONNX file; unset: the default for the hardware */
  model?: string;
  /** the resolution the model runs at (only the residual is upsampled back) */
  inferSize?: Size;
  /** inference size as a fraction of the input, in (0, 1] */
  scale?: number;
  /** temporal smoothing strength in [0, 1]; 0 turns it off */
  smooth: number;
  ep: EpChoice;
  /** onnxruntime threads; unset: all cores */
  threads?: number;
}

export const MODEL_DEFAULTS = { smooth: 0.6, ep: 'auto' } as const satisfies Partial<ModelSettings>;

/** The fields, optional, for objects that may set any of them (a stream, the config's defaults). */
export const modelSettingsFields = {
  model: z.string().min(1).optional(),
  inferSize: size().optional(),
  scale: num().pipe(z.number().gt(0, 'must be in (0, 1]').max(1, 'must be in (0, 1]')).optional(),
  smooth: num().pipe(z.number().min(0, 'must be in [0, 1]').max(1, 'must be in [0, 1]')).optional(),
  ep: z.enum(EP_CHOICES as [EpChoice, ...EpChoice[]]).optional(),
  threads: num().pipe(z.number().int('must be a whole number').min(1)).optional(),
};

const schema = z.strictObject(modelSettingsFields).refine((s) => !(s.inferSize && s.scale !== undefined), { message: 'set inferSize or scale, not both' });

export type RawModelSettings = z.input<typeof schema>;

/** Settings from loose values (flags), defaults filled in; `issue` turns a problem into the caller's error. */
export function parseModelSettings(raw: Record<string, unknown>, issue: (field: string, message: string, input: unknown) => Error): ModelSettings {
  const given = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  const r = schema.safeParse(given);
  if (!r.success) {
    const first = r.error.issues[0];
    const field = String(first.path[0] ?? '');
    throw issue(field, first.message, given[field]);
  }
  return withDefaults(r.data);
}

export function withDefaults(s: Partial<ModelSettings>): ModelSettings {
  return { ...s, smooth: s.smooth ?? MODEL_DEFAULTS.smooth, ep: s.ep ?? MODEL_DEFAULTS.ep };
}
