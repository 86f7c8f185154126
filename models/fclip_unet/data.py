"""Training data: paired folders (rain/ + norain/) and clean images with synthetic rain.

The synthetic rain is made on the fly, per batch, with torch ops (no per-pixel Python), in
two styles, chosen per image:
- "streaks": sparse random seeds smeared into distinct streaks by a tapered line kernel in a
  rotated frame, with splashes (small bright blobs): what a camera sees of nearby drops;
- "dense": the classic photo-editor recipe (thresholded noise, a slight blur, a long motion
  blur, a levels stretch), giving many overlapping thin streaks of varied brightness in one to
  four directions, added to the image, under a haze-like veil: a downpour seen at a distance.
Layers differ in angle, length, width, density and brightness. `level` in [0, 1] runs from a
few faint thin streaks to dense, thick, bright rain.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, read_image

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp")


def natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: str) -> List[str]:
    if not os.path.isdir(folder):
        raise SystemExit(f"error: image folder {folder} does not exist")
    names = sorted((f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXT)), key=natural_key)
    return [os.path.join(folder, f) for f in names]


def load_rgb(path: str, max_side: int = 1024) -> torch.Tensor:
    """uint8 [3,H,W]; very large photographs are shrunk so one image cannot dominate memory."""
    try:
        img = read_image(path, ImageReadMode.RGB)
    except RuntimeError as err:
        raise SystemExit(f"error: cannot read image {path}: {err}")
    h, w = img.shape[-2:]
    s = max_side / max(h, w)
    if s < 1:
        img = F.interpolate(img[None].float(), size=(round(h * s), round(w * s)), mode="area")[0].round().clamp(0, 255).byte()
    return img


def paired_files(root: str) -> List[Tuple[str, str]]:
    rain, clean = os.path.join(root, "rain"), os.path.join(root, "norain")
    r, c = list_images(rain), list_images(clean)
    rn, cn = [os.path.basename(p) for p in r], [os.path.basename(p) for p in c]
    if rn != cn:
        only = sorted(set(rn) ^ set(cn), key=natural_key)[:5]
        raise SystemExit(f"error: {root}: rain/ and norain/ names do not match (e.g. {only})")
    return list(zip(r, c))


class CropSampler:
    """Random crops (with random downscaling and flips) of in-memory uint8 images, as float
    batches in [0,1]. A crop of a pair takes the same window from both images."""

    def __init__(self, images: Sequence[Tuple[torch.Tensor, ...]], crop: int, min_scale: float = 0.5):
        self.images = [t for t in images if min(t[0].shape[-2:]) >= crop]
        if not self.images:
            raise SystemExit(f"error: no training image is at least {crop}x{crop}")
        self.crop, self.min_scale = crop, min_scale

    def sample(self, n: int, gen: torch.Generator) -> Tuple[torch.Tensor, ...]:
        outs: List[List[torch.Tensor]] = []
        for _ in range(n):
            group = self.images[int(torch.randint(len(self.images), (1,), generator=gen))]
            h, w = group[0].shape[-2:]
            # look at a window up to 1/min_scale larger, shrunk to the crop: cameras see the
            # scene at many scales, and the pipeline runs at reduced resolution
            s = self.min_scale + (1 - self.min_scale) * float(torch.rand((), generator=gen))
            win = min(int(self.crop / s), h, w)
            y = int(torch.randint(h - win + 1, (1,), generator=gen))
            x = int(torch.randint(w - win + 1, (1,), generator=gen))
            flip = bool(torch.rand((), generator=gen) < 0.5)
            crops = []
            for img in group:
                c = img[:, y:y + win, x:x + win].float()[None] / 255
                if win != self.crop:
                    c = F.interpolate(c, size=(self.crop, self.crop), mode="area")
                crops.append(c.flip(-1) if flip else c)
            outs.append(crops)
        return tuple(torch.cat([o[i] for o in outs]) for i in range(len(outs[0])))


# ---------------------------------------------------------------- synthetic rain
@dataclass
class RainParams:
    layers: int
    angle: float  # degrees from vertical, shared base of the layers
    density: float
    length: float  # pixels
    width: float  # Gaussian sigma across the streak, pixels
    brightness: float
    haze: float  # veil strength 0..1
    splashes: float  # splash density


def _uniform(gen: torch.Generator):
    """u(a, b): one uniform draw from [a, b) off the generator."""
    return lambda a, b: a + (b - a) * float(torch.rand((), generator=gen))


def rain_params(level: float, gen: torch.Generator) -> RainParams:
    u = _uniform(gen)
    lv = min(max(level, 0.0), 1.0)
    return RainParams(
        layers=1 + int(u(0, 1 + 2.99 * lv)),
        angle=u(-35, 35),
        density=u(0.001, 0.003) + lv * u(0.002, 0.012),
        length=u(6, 14) + lv * u(0, 40),
        width=u(0.3, 0.6) + lv * u(0, 1.4),
        brightness=u(0.25, 0.5) + lv * u(0.1, 0.5),
        haze=lv * u(0, 0.35) if float(torch.rand((), generator=gen)) < 0.5 else 0.0,
        splashes=lv * u(0, 0.003) if float(torch.rand((), generator=gen)) < 0.3 else 0.0,
    )


def _gauss1d(sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / max(sigma, 1e-3)) ** 2)
    return k / k.sum()


def _widen(layer: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gives vertical streaks their width: a Gaussian across them, peak kept at 1."""
    across = _gauss1d(sigma)
    across = across / across.max()
    return F.conv2d(layer, across.view(1, 1, 1, -1), padding=(0, across.numel() // 2))


def streak_layer(h: int, w: int, p: RainParams, angle: float, gen: torch.Generator) -> torch.Tensor:
    """One layer of streaks [1,1,h,w] in [0, ~brightness]."""
    # draw in a frame rotated by `angle`, large enough to cover the image after rotation
    side = int(math.ceil(math.hypot(h, w))) + 2
    seeds = (torch.rand(1, 1, side, side, generator=gen) < p.density).float()
    seeds = seeds * (0.5 + 0.5 * torch.rand(1, 1, side, side, generator=gen))
    n = max(3, int(p.length) | 1)
    along = torch.hann_window(n + 2, periodic=False)[1:-1]  # tapered ends
    along = along / along.max()
    streaks = F.conv2d(seeds, along.view(1, 1, n, 1), padding=(n // 2, 0))
    streaks = _widen(streaks, p.width)
    return _rotate_crop(streaks, h, w, angle).clamp(0, 1) * p.brightness


def _rotate_crop(layer: torch.Tensor, h: int, w: int, angle: float) -> torch.Tensor:
    """Turn a square layer drawn in a vertical frame to `angle` and cut out the h x w window."""
    side = layer.shape[-1]
    t = math.radians(angle)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]])
    theta[0, :2] *= w / side
    theta[1, :2] *= h / side
    grid = F.affine_grid(theta[None], [1, 1, h, w], align_corners=False)
    return F.grid_sample(layer, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def dense_layer(h: int, w: int, density: float, length: int, width: float, angle: float,
                gen: torch.Generator) -> torch.Tensor:
    """Photo-editor rain [1,1,h,w] in [0,1]: thresholded noise, blurred across, motion-blurred
    along, then stretched so a lone streak is bright and overlaps saturate softly."""
    side = int(math.ceil(math.hypot(h, w))) + 2
    seeds = (torch.rand(1, 1, side, side, generator=gen) < density).float()
    seeds = seeds * (0.3 + 0.7 * torch.rand(1, 1, side, side, generator=gen))
    seeds = _widen(seeds, width)
    n = max(3, length | 1)
    along = torch.ones(n) / n  # a motion blur averages: long streaks are fainter per pixel
    streaks = F.conv2d(seeds, along.view(1, 1, n, 1), padding=(n // 2, 0))
    # levels: a lone streak of average value reaches about 0.6, overlaps approach 1
    gain = n / 0.65 * (0.6 + 0.8 * float(torch.rand((), generator=gen)))
    streaks = 1 - torch.exp(-streaks * gain)
    return _rotate_crop(streaks, h, w, angle)


def _dense_rain(img: torch.Tensor, lv: float, gen: torch.Generator) -> torch.Tensor:
    u = _uniform(gen)
    _, _, h, w = img.shape
    layers = 1 + int(u(0, 1 + 2.99 * lv))
    base = u(-30, 30)
    rain = torch.zeros(1, 1, h, w)
    for k in range(layers):
        # directions: mostly near the base angle, sometimes a second wind direction
        angle = base + (u(-6, 6) if k == 0 or float(torch.rand((), generator=gen)) < 0.6 else u(-30, 30))
        f = 1.0 if k == 0 else u(0.4, 1.0)  # farther layers: shorter, thinner, fainter
        length = int((u(8, 20) + lv * u(5, 45)) * f)
        # coverage: how many streaks pass over a pixel on average
        coverage = (u(0.03, 0.1) + lv * u(0.05, 0.45)) * f
        density = coverage / length
        width = (u(0.35, 0.6) + lv * u(0, 0.7)) * f
        bright = (u(0.25, 0.5) + lv * u(0.05, 0.35)) * f
        rain = rain + dense_layer(h, w, density, length, width, angle, gen) * bright
    rain = rain.clamp(0, 1)
    tint = 1 - 0.08 * torch.rand(1, 3, 1, 1, generator=gen)
    if float(torch.rand((), generator=gen)) < 0.6:
        rainy = img + rain * tint  # additive, as the deraining literature's synthetic sets are made
    else:
        rainy = 1 - (1 - img) * (1 - rain * tint)
    if float(torch.rand((), generator=gen)) < 0.6:
        # veiling: heavy rain scatters light into a bright haze that lowers contrast
        haze = lv * u(0.03, 0.3)
        air = u(0.7, 0.95)
        rainy = rainy * (1 - haze) + air * haze
    return rainy.clamp(0, 1)


class StreakBank:
    """Rendered rain-streak layers (Garg & Nayar's photometric database: gray streaks on black),
    kept in memory as uint8 and cut into layers of any size, scale, angle and blur."""

    def __init__(self, folder: str):
        files = list_images(folder)
        if not files:
            raise SystemExit(f"error: no streak layers (png) in {folder}")
        self.layers = []
        for f in files:
            try:
                img = read_image(f, ImageReadMode.GRAY)
            except RuntimeError as err:
                raise SystemExit(f"error: cannot read streak layer {f}: {err}")
            self.layers.append(img)

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, h: int, w: int, scale: float, angle: float, blur: float, gen: torch.Generator) -> torch.Tensor:
        """[1,1,h,w] in [0,1]: a window of a random layer seen `scale` times larger (tiled where
        the window is larger than the layer), defocused by `blur` (sigma, pixels) and turned by
        `angle` degrees; the brightest streaks reach about 1."""
        src = self.layers[int(torch.randint(len(self.layers), (1,), generator=gen))]
        side = int(math.ceil(math.hypot(h, w))) + 2
        win = max(4, int(math.ceil(side / scale)))
        sh, sw = src.shape[-2:]
        reps = (1, -(-win // sh) + 1, -(-win // sw) + 1)
        big = src.repeat(*reps) if reps[1] > 1 or reps[2] > 1 else src
        y = int(torch.randint(big.shape[-2] - win + 1, (1,), generator=gen))
        x = int(torch.randint(big.shape[-1] - win + 1, (1,), generator=gen))
        crop = big[:, y:y + win, x:x + win].float()[None] / 255
        crop = F.interpolate(crop, size=(side, side), mode="bilinear", align_corners=False)
        if blur > 0.3:
            k = _gauss1d(blur)
            crop = F.conv2d(F.conv2d(crop, k.view(1, 1, -1, 1), padding=(k.numel() // 2, 0)), k.view(1, 1, 1, -1), padding=(0, k.numel() // 2))
        crop = crop / crop.flatten().quantile(0.999).clamp(min=0.05)
        return _rotate_crop(crop, h, w, angle).clamp(0, 1)


def _garg_rain(img: torch.Tensor, lv: float, bank: StreakBank, gen: torch.Generator) -> torch.Tensor:
    """Rendered streak layers at several depths: far ones small, thin, faint and dense (two
    tiles stacked), near ones large, defocused and bright; one wind angle with a little spread;
    additive or screen blend; a veil that grows with the rain (accumulation, fog)."""
    u = _uniform(gen)
    _, _, h, w = img.shape
    base = u(-30, 30)
    rain = torch.zeros(1, 1, h, w)
    depths = 1 + int(u(0, 1 + 2.99 * lv))
    for k in range(depths):
        near = k == depths - 1 and depths > 1 and float(torch.rand((), generator=gen)) < 0.7
        if near:
            scale, blur, bright = u(1.5, 3.0), u(0.5, 2.0), u(0.5, 0.9) + 0.1 * lv
        else:
            scale, blur, bright = u(0.35, 1.2), 0.0, u(0.25, 0.55) + lv * u(0.05, 0.35)
        angle = base + u(-5, 5)
        layer = bank.layer(h, w, scale, angle, blur, gen) * bright
        if not near and lv > 0.5 and float(torch.rand((), generator=gen)) < 0.5:
            layer = layer + bank.layer(h, w, scale, angle + u(-3, 3), 0.0, gen) * bright * u(0.5, 1.0)
        rain = rain + layer
    if lv > 0.3 and float(torch.rand((), generator=gen)) < 0.25:
        dots = (torch.rand(1, 1, h, w, generator=gen) < lv * u(0, 0.002)).float()
        k = _gauss1d(1.0)
        dots = F.conv2d(F.conv2d(dots, k.view(1, 1, -1, 1), padding=(k.numel() // 2, 0)), k.view(1, 1, 1, -1), padding=(0, k.numel() // 2))
        rain = rain + dots / dots.amax().clamp(min=1e-6) * 0.6
    rain = rain.clamp(0, 1)
    tint = 1 - 0.08 * torch.rand(1, 3, 1, 1, generator=gen)
    if float(torch.rand((), generator=gen)) < 0.6:
        rainy = img + rain * tint
    else:
        rainy = 1 - (1 - img) * (1 - rain * tint)
    if float(torch.rand((), generator=gen)) < 0.6:
        # depth-dependent veil: stronger towards the top of the frame, where the scene is far
        haze = lv * u(0.03, 0.3)
        ramp = torch.linspace(1.0, u(0.3, 1.0), h).view(1, 1, h, 1)
        air = u(0.7, 0.95)
        a = haze * ramp
        rainy = rainy * (1 - a) + air * a
    return rainy.clamp(0, 1)


def add_rain(clean: torch.Tensor, level: torch.Tensor, gen: torch.Generator,
             dense_fraction: float = 0.6, bank: Optional[StreakBank] = None,
             garg_fraction: float = 0.0) -> torch.Tensor:
    """Rainy versions of clean images [B,3,H,W] in [0,1]; level [B] in [0,1]; each image gets
    rendered Garg-Nayar layers with probability `garg_fraction` (with a `bank`), else the
    "dense" style with probability `dense_fraction`, the "streaks" style otherwise."""
    b, _, h, w = clean.shape
    out = []
    for i in range(b):
        # no draw without a bank: the random stream stays that of the kit before it existed
        if bank is not None and garg_fraction > 0 and float(torch.rand((), generator=gen)) < garg_fraction:
            out.append(_garg_rain(clean[i:i + 1], float(level[i]), bank, gen))
            continue
        # no draw at all without dense rain: the random stream is then that of the kit before
        # dense rain existed, so checkpoints trained then can be reproduced (--dense-rain 0)
        if dense_fraction > 0 and float(torch.rand((), generator=gen)) < dense_fraction:
            out.append(_dense_rain(clean[i:i + 1], float(level[i]), gen))
            continue
        p = rain_params(float(level[i]), gen)
        rain = torch.zeros(1, 1, h, w)
        for k in range(p.layers):
            jitter = float(torch.randn((), generator=gen)) * (4 if k == 0 else 12)
            # farther layers: shorter, thinner, fainter
            q = RainParams(**{**p.__dict__})
            if k:
                f = 0.4 + 0.6 * float(torch.rand((), generator=gen))
                q.length, q.width, q.brightness, q.density = p.length * f, p.width * f, p.brightness * f, p.density * f
            rain = rain + streak_layer(h, w, q, p.angle + jitter, gen)
        if p.splashes > 0:
            dots = (torch.rand(1, 1, h, w, generator=gen) < p.splashes).float()
            k = _gauss1d(1.0)
            dots = F.conv2d(F.conv2d(dots, k.view(1, 1, -1, 1), padding=(k.numel() // 2, 0)), k.view(1, 1, 1, -1), padding=(0, k.numel() // 2))
            rain = rain + dots / dots.amax().clamp(min=1e-6) * p.brightness * 0.8
        rain = rain.clamp(0, 1)
        # slight tint variation: rain picks up the light around it
        tint = 1 - 0.1 * torch.rand(1, 3, 1, 1, generator=gen)
        img = clean[i:i + 1]
        rainy = 1 - (1 - img) * (1 - rain * tint)  # screen blend: bright streaks never exceed 1
        if p.haze > 0:
            air = 0.75 + 0.2 * float(torch.rand((), generator=gen))
            rainy = rainy * (1 - p.haze) + air * p.haze
        out.append(rainy)
    return torch.cat(out).clamp(0, 1)


# ---------------------------------------------------------------- the training mix
class TrainingData:
    """Clean images with synthetic rain, mixed with real rainy/clean pairs."""

    def __init__(self, clean_dirs: Sequence[str], pair_dirs: Sequence[str], crop: int,
                 val_every: int = 10, real_fraction: float = 0.2, max_side: int = 1024,
                 dense_fraction: float = 0.6, bank: Optional[StreakBank] = None, garg_fraction: float = 0.0):
        clean_files: List[str] = []
        for d in clean_dirs:
            clean_files += list_images(d)
        pairs: List[Tuple[str, str]] = []
        for d in pair_dirs:
            pairs += paired_files(d)
        # every `val_every`-th clean image of the first clean folder is kept out for validation;
        # with no clean folder, every `val_every`-th pair (both its images) is
        if clean_dirs:
            first = list_images(clean_dirs[0])
            self.val_files = first[::val_every] if val_every > 0 else []
        else:
            held = pairs[::val_every] if val_every > 0 else []
            self.val_files = [c for _, c in held]
            pairs = [p for p in pairs if p not in held]
        train_clean = [f for f in clean_files if f not in set(self.val_files)]
        if not train_clean and not pairs:
            raise SystemExit("error: no training images (give --clean and/or --pairs folders)")
        self.clean = CropSampler([(load_rgb(f, max_side),) for f in train_clean + [c for _, c in pairs]], crop) if (train_clean or pairs) else None
        self.pairs = CropSampler([(load_rgb(r, max_side), load_rgb(c, max_side)) for r, c in pairs], crop) if pairs else None
        self.real_fraction = real_fraction if pairs else 0.0
        self.crop, self.dense_fraction = crop, dense_fraction
        self.bank, self.garg_fraction = bank, garg_fraction
        self.counts = {"clean": len(train_clean), "pairs": len(pairs), "validation": len(self.val_files)}

    def batch(self, n: int, gen: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        n_real = int(round(n * self.real_fraction))
        rainy: List[torch.Tensor] = []
        clean: List[torch.Tensor] = []
        if n_real and self.pairs:
            r, c = self.pairs.sample(n_real, gen)
            rainy.append(r)
            clean.append(c)
        if n - n_real:
            (c,) = self.clean.sample(n - n_real, gen)
            level = torch.rand(n - n_real, generator=gen) ** 0.7  # lean towards heavier rain
            rainy.append(add_rain(c, level, gen, self.dense_fraction, self.bank, self.garg_fraction))
            clean.append(c)
        return torch.cat(rainy), torch.cat(clean)


def validation_set(files: Sequence[str], size: int = 256, seed: int = 1234,
                   dense_fraction: float = 0.6, bank: Optional[StreakBank] = None,
                   garg_fraction: float = 0.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fixed rainy/clean validation pairs: a centre crop of each held-out image, rain levels
    spread from light to heavy, always the same for the same files and seed."""
    gen = torch.Generator().manual_seed(seed)
    clean = []
    for f in files:
        img = load_rgb(f).float()[None] / 255
        h, w = img.shape[-2:]
        s = min(h, w)
        img = img[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        clean.append(F.interpolate(img, size=(size, size), mode="area"))
    c = torch.cat(clean)
    level = torch.linspace(0.1, 1.0, len(files))
    return add_rain(c, level, gen, dense_fraction, bank, garg_fraction), c
