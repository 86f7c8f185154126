// The clip and rain flags of the commands that run a clean clip with synthetic rain (eval-video,
// eval-detect): declared once, so the same clip and rain mean the same thing in each.
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { RAIN_LEVELS, type RainLevel } from '../eval/video/synth-rain.js';

export interface ClipFlags {
  pairs?: string;
  from?: string;
  to?: string;
  rain: string;
  seed: string;
}

/** A whole-number flag, said wrong in one line. */
export function whole(v: string | undefined, flag: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min) throw new UserError(`${flag} ${v} must be a whole number from ${min}`);
  return Number(v);
}

export function addClipFlags(cmd: Command): Command {
  return cmd
    .argument('[clip]', 'the clean clip: a folder of frames or a video file')
    .option('--pairs <dir>', 'instead of a clip and synthetic rain: DIR/rain/ and DIR/clean/ frame folders with matching names')
    .option('--from <N>', 'first frame, counting from 1 (default 1)')
    .option('--to <M>', 'last frame, inclusive (default: the last)')
    .option('--rain <level>', `synthetic rain: ${RAIN_LEVELS.filter((l) => l !== 'none').join(', ')} (none: the clean frames)`, 'heavy')
    .option('--seed <S>', 'seed of the rain generator (the same seed, the same rain)', '1');
}

/** The clip request and rain of the flags, checked. */
export function clipOptions(clip: string | undefined, flags: ClipFlags): { clip?: string; pairs?: string; from?: number; to?: number; rain: RainLevel; seed: number } {
  if (!(RAIN_LEVELS as readonly string[]).includes(flags.rain)) throw new UserError(`--rain ${flags.rain} is not a rain setting: use ${RAIN_LEVELS.filter((l) => l !== 'none').join(', ')} (or none)`);
  return {
    clip,
    pairs: flags.pairs,
    from: whole(flags.from, '--from', 1),
    to: whole(flags.to, '--to', 1),
    rain: flags.rain as RainLevel,
    seed: whole(flags.seed, '--seed', 0)!,
  };
}
