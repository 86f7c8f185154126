// What the commands share about flags: numbers, and the model settings through their one schema.
import { InvalidArgumentError } from 'commander';
import { UserError } from '../errors.js';
import { parseModelSettings, parseSize, type EpChoice, type ModelSettings } from '../infer/index.js';

export function number(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

/** The model flags as commander hands them over (run, eval-video). */
export interface ModelFlags {
  model?: string;
  inferSize?: string;
  scale?: number;
  smooth: number | false;
  ep: EpChoice;
  threads?: number;
}

/** Model flags through the one settings schema; a bad value names its flag. */
export function cliModelSettings(flags: { model?: string; inferSize?: string; scale?: number; smooth?: number; ep?: EpChoice; threads?: number }): ModelSettings {
  const { model, scale, smooth, ep, threads } = flags;
  const settings = parseModelSettings({ model, scale, smooth, ep, threads }, (field, message, value) => {
    const flag = `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    return new UserError(value === undefined ? `${flag}: ${message}` : `${flag} ${String(value)} ${message}`);
  });
  // (the same WIDTHxHEIGHT rule as the schema's; this one names the flag)
  if (flags.inferSize !== undefined) settings.inferSize = parseSize(flags.inferSize, '--infer-size');
  return settings;
}
