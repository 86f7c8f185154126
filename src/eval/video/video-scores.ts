// The scores of one frame sequence (the rainy input, or a model's output) against the clean
// frames, pooled over the whole clip:
//   PSNR over a set of pixels = 10·log10(255² / MSE over those pixels of all frames), on Y,
//     capped at 100 dB (identical frames);
//   SSIM over a set of pixels = the mean of the SSIM maps where the window's centre is in the set;
//   flicker on static pixels = mean |ΔY| between consecutive frames over the pixels static in
//     both, minus the same of the clean frames (0: no more change than the scene has).
import { PSNR_CAP_DB, type Luma } from '../metrics.js';
import { MAP_OFFSET } from '../ssim-map.js';
import type { PixelClasses } from './masks.js';

export interface Scores {
  psnr: number;
  ssim: number;
  psnrStatic: number | null;
  psnrMoving: number | null;
  ssimStatic: number | null;
  ssimMoving: number | null;
  flickerStatic: number | null;
}

/** One frame as scored: the clean frame, its pixel classes, the SSIM map of the frame scored. */
export interface ScoredFrame {
  clean: Luma;
  classes: PixelClasses;
  img: Luma;
  ssimMap: Float64Array;
}

class Mean {
  sum = 0;
  n = 0;
  get value(): number | null {
    return this.n ? this.sum / this.n : null;
  }
}

function psnrOf(m: Mean): number | null {
  const mse = m.value;
  if (mse === null) return null;
  return mse === 0 ? PSNR_CAP_DB : Math.min(PSNR_CAP_DB, 10 * Math.log10((255 * 255) / mse));
}

const round = (v: number | null, d: number) => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);

export class VideoScores {
  private readonly se = { all: new Mean(), static: new Mean(), moving: new Mean() };
  private readonly ssim = { all: new Mean(), static: new Mean(), moving: new Mean() };
  private readonly change = new Mean();
  private readonly cleanChange = new Mean();
  private prev: ScoredFrame | null = null;
  frames = 0;

  add(f: ScoredFrame): void {
    const { clean, classes, img, ssimMap } = f;
    const { width, height } = clean;
    const n = width * height;
    const a = clean.y;
    const b = img.y;
    for (let i = 0; i < n; i++) {
      const d = b[i] - a[i];
      const d2 = d * d;
      this.se.all.sum += d2;
      if (classes.static[i]) {
        this.se.static.sum += d2;
        this.se.static.n++;
      } else if (classes.moving[i]) {
        this.se.moving.sum += d2;
        this.se.moving.n++;
      }
    }
    this.se.all.n += n;

    const mw = width - 2 * MAP_OFFSET;
    const mh = height - 2 * MAP_OFFSET;
    for (let r = 0; r < mh; r++) {
      const p = (r + MAP_OFFSET) * width + MAP_OFFSET;
      for (let c = 0; c < mw; c++) {
        const s = ssimMap[r * mw + c];
        this.ssim.all.sum += s;
        if (classes.static[p + c]) {
          this.ssim.static.sum += s;
          this.ssim.static.n++;
        } else if (classes.moving[p + c]) {
          this.ssim.moving.sum += s;
          this.ssim.moving.n++;
        }
      }
    }
    this.ssim.all.n += mw * mh;

    const prev = this.prev;
    if (prev) {
      const ps = prev.classes.static;
      const pa = prev.clean.y;
      const pb = prev.img.y;
      for (let i = 0; i < n; i++) {
        if (!(classes.static[i] && ps[i])) continue;
        this.change.sum += Math.abs(b[i] - pb[i]);
        this.cleanChange.sum += Math.abs(a[i] - pa[i]);
        this.change.n++;
      }
      this.cleanChange.n = this.change.n;
    }
    this.prev = f;
    this.frames++;
  }

  /** mean |ΔY| of the clean frames on static pixels (the scene's own flicker) */
  get cleanFlicker(): number | null {
    return round(this.cleanChange.value, 4);
  }

  result(): Scores {
    const flicker = this.change.value === null ? null : this.change.value - this.cleanChange.value!;
    return {
      psnr: round(psnrOf(this.se.all), 4)!,
      ssim: round(this.ssim.all.value, 5)!,
      psnrStatic: round(psnrOf(this.se.static), 4),
      psnrMoving: round(psnrOf(this.se.moving), 4),
      ssimStatic: round(this.ssim.static.value, 5),
      ssimMoving: round(this.ssim.moving.value, 5),
      flickerStatic: round(flicker, 4),
    };
  }
}
