// zod field types shared by every place that reads settings from text (YAML config, CLI flags):
// numbers and booleans written as strings (from ${ENV} or a flag) still count, and a wrong type
// says what was expected instead of "missing".
import { z } from 'zod';

const NUMBER = /^\s*-?\d+(\.\d+)?\s*$/;

export const num = () =>
  z.preprocess(
    (v) => (typeof v === 'string' && NUMBER.test(v) ? Number(v) : v),
    z.number({ error: (i) => (i.input === undefined ? 'missing (required)' : `must be a number (got ${JSON.stringify(i.input)})`) }),
  );
export const bool = () =>
  z.preprocess(
    (v) => (v === 'true' ? true : v === 'false' ? false : v),
    z.boolean({ error: (i) => (i.input === undefined ? 'missing (required)' : `must be true or false (got ${JSON.stringify(i.input)})`) }),
  );
export const port = () => num().pipe(z.number().int().min(0).max(65535));
export const seconds = () => num().pipe(z.number().positive());

/** WIDTHxHEIGHT. YAML reads an unquoted 0x0 as a hexadecimal number: say to quote it. */
export const size = () =>
  z
    .string({ error: (i) => (i.input === undefined ? 'missing (required)' : `expected WIDTHxHEIGHT, for example 640x360 (got ${JSON.stringify(i.input)}: quote it in YAML)`) })
    .regex(/^\s*[1-9]\d*x[1-9]\d*\s*$/i, 'expected WIDTHxHEIGHT, for example 640x360')
    .transform((t) => {
      const [w, h] = t.trim().toLowerCase().split('x').map(Number);
      return { width: w, height: h };
    });

/** The path of an issue as the config writes it: streams[2].url */
export function fieldPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out;
}
