// What the commands share about flags: numbers, and the model settings through their one schema.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { UserError } from '../errors.js';
import { EP_CHOICES, MODEL_DEFAULTS, parseModelSettings, parseSize, type EpChoice, type ModelSettings } from '../infer/index.js';

export function number(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

/** Declares the model flags of a command that runs video (run, eval-video): declared once, so they read alike. */
export function addModelFlags(cmd: Command, defaultModel: string): Command {
  return cmd
    .option('--model <name|path>', `model name, model folder with card.json, or ONNX file (default: ${defaultModel})`)
    .addOption(new Option('--infer-size <WxH>', "inference resolution (default: the model card's)").conflicts('scale'))
    .addOption(new Option('--scale <s>', 'inference resolution as a fraction of the input, in (0, 1]').argParser(number('--scale')))
    .addOption(new Option('--smooth <0..1>', 'temporal smoothing strength').default(MODEL_DEFAULTS.smooth).argParser(number('--smooth')).conflicts('noSmooth'))
    .option('--no-smooth', 'turn temporal smoothing off')
    .addOption(new Option('--ep <provider>', 'execution provider').choices(EP_CHOICES as string[]).default(MODEL_DEFAULTS.ep))
    .addOption(new Option('--threads <n>', 'onnxruntime threads (default: all cores)').argParser(number('--threads')));
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
