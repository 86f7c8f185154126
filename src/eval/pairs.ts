// The image pairs of an evaluation set: <dir>/rain/NAME and <dir>/norain/NAME, in natural name order.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

export interface ImagePair {
  name: string;
  rain: string;
  norain: string;
}

const IMAGE_EXT = /\.(png|jpe?g|bmp|tiff?|webp)$/i;
const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
const LAYOUT = 'an evaluation set holds rain/ and norain/ with matching image names';

function images(dir: string, sub: string): string[] {
  const p = path.join(dir, sub);
  if (!existsSync(p) || !statSync(p).isDirectory()) throw new UserError(`data folder ${dir} has no ${sub}/ folder (${LAYOUT})`);
  return readdirSync(p).filter((f) => IMAGE_EXT.test(f) && statSync(path.join(p, f)).isFile());
}

function sample(names: string[]): string {
  const shown = names.slice(0, 3).join(', ');
  return names.length > 3 ? `${shown}, … (${names.length})` : shown;
}

/** Every pair of `dir`, checked to match one to one, then the first `limit` in natural order. */
export function listPairs(dir: string, limit?: number): ImagePair[] {
  if (!existsSync(dir)) throw new UserError(`data folder not found: ${dir}`);
  if (!statSync(dir).isDirectory()) throw new UserError(`--data ${dir} is not a folder (${LAYOUT})`);
  const rain = images(dir, 'rain');
  const norain = images(dir, 'norain');
  if (rain.length === 0) throw new UserError(`${path.join(dir, 'rain')} holds no images (png, jpg, bmp, tiff, webp)`);
  const clean = new Set(norain);
  const rainy = new Set(rain);
  const onlyRain = rain.filter((n) => !clean.has(n)).sort(natural.compare);
  const onlyClean = norain.filter((n) => !rainy.has(n)).sort(natural.compare);
  if (onlyRain.length || onlyClean.length) {
    const parts = [];
    if (onlyRain.length) parts.push(`only in rain/: ${sample(onlyRain)}`);
    if (onlyClean.length) parts.push(`only in norain/: ${sample(onlyClean)}`);
    throw new UserError(`rain/ and norain/ of ${dir} do not match (${parts.join('; ')})`);
  }
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new UserError(`--limit ${limit} must be a positive whole number`);
  return rain
    .sort(natural.compare)
    .slice(0, limit)
    .map((name) => ({ name, rain: path.join(dir, 'rain', name), norain: path.join(dir, 'norain', name) }));
}
