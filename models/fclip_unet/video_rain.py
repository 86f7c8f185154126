"""Synthetic rain over a clean video, for the video benchmark (`derain eval-video`).

Built from the kit's rain generator (data.py): Garg-Nayar rendered streak layers
(StreakBank), photo-editor "dense" rain (dense_layer), the rotate-and-crop of a layer drawn in a
vertical frame, the additive blend and the depth-ramped veil. What it adds is time:

- far layers (small, thin, faint streaks at a distance) are drawn once into a vertical strip
  that scrolls down a few pixels a frame (falling rain), new strip drawn on top as the old
  one leaves; their wind angle and strength drift slowly (sums of slow sines);
- the dense layer (many thin streaks) and, from medium rain up, the near layer (large,
  defocused, bright drops) are drawn fresh every frame: a near drop crosses the picture
  between two frames;
- heavy rain adds splashes and a veil (haze brighter towards the top, where the scene is far).

The rain depends only on the seed, the level, the frame size and the frame's index in the
sequence, never on the picture: the same seed gives the same rain, bit for bit.

    /usr/bin/python3 -m models.fclip_unet.video_rain --input CLEAN_DIR --out RAIN_DIR --rain heavy --seed 1
    ffmpeg ... -f rawvideo -pix_fmt rgb24 - | /usr/bin/python3 -m models.fclip_unet.video_rain --raw 320x240 --out RAIN_DIR

Writes RAIN_DIR/000001.png, 000002.png, ... (one per input frame, in order) and prints one
JSON line: frames, seconds, the drawn parameters.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import List, Optional

import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, read_image, write_png

from .data import StreakBank, _gauss1d, _rotate_crop, _uniform, list_images

LEVELS = {"none": 0.0, "light": 0.3, "medium": 0.6, "heavy": 1.0}
#: streak layers taken from the bank for one clip (loading all 825 takes seconds)
BANK_LAYERS = 16
#: near-layer tiles drawn per clip
NEAR_TILES = 6


class StreakSubset(StreakBank):
    """A few layers of the bank, chosen by the seed."""

    def __init__(self, folder: str, n: int, gen: torch.Generator):
        files = list_images(folder)
        if not files:
            raise SystemExit(f"error: no streak layers (png) in {folder}")
        pick = torch.randperm(len(files), generator=gen)[:n].tolist()
        self.layers = []
        for i in sorted(pick):
            try:
                self.layers.append(read_image(files[i], ImageReadMode.GRAY))
            except RuntimeError as err:
                raise SystemExit(f"error: cannot read streak layer {files[i]}: {err}")


# Single-channel filters as sums of shifted slices (and a running sum for the box): the same
# results as the kit's F.conv2d with thin kernels, which this PyTorch runs ~5-10x slower.
def _filter1d(x: torch.Tensor, k: torch.Tensor, dim: int) -> torch.Tensor:
    """Correlation with an odd 1-D kernel along `dim` (-1 or -2), zero padding, same size:
    F.conv2d(x, k as a row or a column, padding=len(k) // 2)."""
    n = k.numel()
    p = n // 2
    size = x.shape[dim]
    xp = F.pad(x, (p, p) if dim == -1 else (0, 0, p, p))
    out = torch.zeros_like(x)
    for i in range(n):
        out += k[i] * xp.narrow(dim, i, size)
    return out


def _box(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """The mean over an odd window of n along `dim`, zero padding: the kit's motion blur."""
    p = n // 2
    size = x.shape[dim]
    c = F.pad(x, (p + 1, p) if dim == -1 else (0, 0, p + 1, p)).cumsum(dim)
    return (c.narrow(dim, n, size) - c.narrow(dim, 0, size)) / n


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    k = _gauss1d(sigma)
    return _filter1d(_filter1d(x, k, -2), k, -1)


def _widen(layer: torch.Tensor, sigma: float) -> torch.Tensor:
    """data._widen: a Gaussian across vertical streaks, peak kept at 1."""
    across = _gauss1d(sigma)
    return _filter1d(layer, across / across.max(), -1)


def dense_layer(h: int, w: int, density: float, length: int, width: float, angle: float,
                gen: torch.Generator) -> torch.Tensor:
    """data.dense_layer (photo-editor rain), the same draws and the same result, faster."""
    side = int(math.ceil(math.hypot(h, w))) + 2
    seeds = (torch.rand(1, 1, side, side, generator=gen) < density).float()
    seeds = seeds * (0.3 + 0.7 * torch.rand(1, 1, side, side, generator=gen))
    seeds = _widen(seeds, width)
    n = max(3, length | 1)
    streaks = _box(seeds, n, -2)
    gain = n / 0.65 * (0.6 + 0.8 * float(torch.rand((), generator=gen)))
    streaks = 1 - torch.exp(-streaks * gain)
    return _rotate_crop(streaks, h, w, angle)


def bank_tile(bank: StreakBank, side: int, scale: float, blur: float, gen: torch.Generator) -> torch.Tensor:
    """[1,1,side,side] in [0,1]: StreakBank.layer before its rotation (a window of a random
    layer seen `scale` times larger, defocused, the brightest streaks about 1)."""
    src = bank.layers[int(torch.randint(len(bank.layers), (1,), generator=gen))]
    win = max(4, int(math.ceil(side / scale)))
    sh, sw = src.shape[-2:]
    reps = (1, -(-win // sh) + 1, -(-win // sw) + 1)
    big = src.repeat(*reps) if reps[1] > 1 or reps[2] > 1 else src
    y = int(torch.randint(big.shape[-2] - win + 1, (1,), generator=gen))
    x = int(torch.randint(big.shape[-1] - win + 1, (1,), generator=gen))
    crop = big[:, y:y + win, x:x + win].float()[None] / 255
    crop = F.interpolate(crop, size=(side, side), mode="bilinear", align_corners=False)
    if blur > 0.3:
        crop = _blur(crop, blur)
    return (crop / crop.flatten().quantile(0.999).clamp(min=0.05)).clamp(0, 1)


def procedural_tile(side: int, scale: float, gen: torch.Generator) -> torch.Tensor:
    """Without a bank: the kit's "streaks" style (streak_layer) before its rotation."""
    density = 0.004 / max(scale, 0.3)
    seeds = (torch.rand(1, 1, side, side, generator=gen) < density).float()
    seeds = seeds * (0.5 + 0.5 * torch.rand(1, 1, side, side, generator=gen))
    n = max(3, int(12 * scale + 6) | 1)
    along = torch.hann_window(n + 2, periodic=False)[1:-1]
    streaks = _filter1d(seeds, along / along.max(), -2)
    return _widen(streaks, 0.35 + 0.4 * scale).clamp(0, 1)


class Drift:
    """A slow wobble around 0 in [-1, 1]: two sines of random periods (frames) and phases."""

    def __init__(self, u, lo: float, hi: float):
        self.p = [(u(lo, hi), u(0, 2 * math.pi)), (u(lo, hi) * 2.3, u(0, 2 * math.pi))]

    def __call__(self, t: int) -> float:
        return 0.6 * math.sin(2 * math.pi * t / self.p[0][0] + self.p[0][1]) + 0.4 * math.sin(2 * math.pi * t / self.p[1][0] + self.p[1][1])


class FallingLayer:
    """A far layer: a vertical strip of streaks scrolling down `speed` pixels a frame."""

    def __init__(self, make_tile, side: int, speed: int):
        self.make_tile, self.side, self.speed = make_tile, side, speed
        self.canvas = torch.cat([make_tile(), make_tile()], dim=-2)  # [1,1,2*side,side]
        self.offset = 0

    def window(self) -> torch.Tensor:
        s = self.side
        return self.canvas[..., s - self.offset:2 * s - self.offset, :]

    def advance(self) -> None:
        self.offset += self.speed
        while self.offset >= self.side:
            # the top tile has come fully into view: a new one goes on top, the bottom one leaves
            self.canvas = torch.cat([self.make_tile(), self.canvas[..., :self.side, :]], dim=-2)
            self.offset -= self.side


class VideoRain:
    """Rain for frames of h x w at `level` in [0, 1], frame after frame."""

    def __init__(self, h: int, w: int, level: float, seed: int, bank: Optional[StreakBank]):
        self.h, self.w, self.lv = h, w, min(max(level, 0.0), 1.0)
        self.gen = gen = torch.Generator().manual_seed(seed)
        u = self.u = _uniform(gen)
        lv = self.lv
        self.side = side = int(math.ceil(math.hypot(h, w))) + 2
        self.t = 0
        self.base = u(-25, 25)
        self.angle_drift, self.angle_amp = Drift(u, 200, 500), u(3, 8)
        self.density_drift, self.density_amp = Drift(u, 120, 400), u(0.15, 0.3)
        self.params = {"level": lv, "angle": round(self.base, 2), "angleDrift": round(self.angle_amp, 2), "densityDrift": round(self.density_amp, 3),
                       "streaks": "garg-nayar" if bank is not None else "procedural"}
        # far layers, falling: 1 (light) to 3 (heavy)
        self.far = []
        for k in range(1 + int(round(2 * lv))):
            scale = u(0.35, 1.1)
            bright = u(0.25, 0.45) + lv * u(0.1, 0.25)
            speed = max(1, int(round(2 + 5 * scale + u(0, 2))))
            if bank is not None:
                make = (lambda s=scale: bank_tile(bank, side, s, 0.0, gen))
            else:
                make = (lambda s=scale: procedural_tile(side, s, gen))
            self.far.append((FallingLayer(make, side, speed), bright, u(-4, 4)))
        self.params["far"] = [{"speed": f.speed, "brightness": round(b, 3)} for f, b, _ in self.far]
        # the near layer, fresh every frame (medium rain up): a few defocused tiles drawn once
        # (their blur and normalisation cost more than the rest of a frame), each frame one of
        # them at a random shift, mirror and angle
        self.near = lv >= 0.5
        self.near_bright = u(0.4, 0.6) + 0.1 * lv
        self.near_tiles = []
        for _ in range(NEAR_TILES if self.near else 0):
            scale, blur = u(1.5, 3.0), u(0.5, 2.0)
            self.near_tiles.append(bank_tile(bank, side, scale, blur, gen) if bank is not None else _blur(procedural_tile(side, scale, gen), blur).clamp(0, 1))
        # dense photo-editor rain, fresh every frame: faint and sparse in light rain, many
        # overlapping streaks in heavy rain
        self.dense = lv > 0
        self.dense_coverage = (u(0.02, 0.04) + lv * u(0.06, 0.12)) if self.dense else 0.0
        self.dense_length = int(u(12, 20) + lv * u(15, 30))
        self.dense_width = u(0.4, 0.6) + lv * u(0.2, 0.5)
        self.dense_bright = u(0.25, 0.35) + lv * u(0.1, 0.2)
        self.splashes = lv * u(0.0005, 0.0015) if lv >= 0.8 else 0.0
        # veil: heavy rain scatters light into a haze, strongest where the scene is far (the top)
        self.haze = lv * u(0.15, 0.3) if lv >= 0.8 else lv * u(0.0, 0.12)
        self.ramp = torch.linspace(1.0, u(0.4, 0.8), h).view(1, 1, h, 1)
        self.air = u(0.75, 0.95)
        self.tint = 1 - 0.08 * torch.rand(1, 3, 1, 1, generator=gen)
        self.params.update({"near": self.near, "denseCoverage": round(self.dense_coverage, 3), "denseLength": self.dense_length,
                            "splashes": round(self.splashes, 5), "haze": round(self.haze, 3)})

    def layer(self) -> torch.Tensor:
        """The rain of the next frame, [1,1,h,w] in [0,1]; the layers then fall on."""
        t, u, gen, h, w = self.t, self.u, self.gen, self.h, self.w
        angle = self.base + self.angle_amp * self.angle_drift(t)
        strength = 1 + self.density_amp * self.density_drift(t)
        rain = torch.zeros(1, 1, h, w)
        for f, bright, da in self.far:
            rain = rain + _rotate_crop(f.window(), h, w, angle + da) * bright * strength
            f.advance()
        if self.near:
            tile = self.near_tiles[int(torch.randint(len(self.near_tiles), (1,), generator=gen))]
            shift = torch.randint(self.side, (2,), generator=gen).tolist()
            tile = tile.roll(shifts=(shift[0], shift[1]), dims=(-2, -1))
            if float(torch.rand((), generator=gen)) < 0.5:
                tile = tile.flip(-1)
            rain = rain + _rotate_crop(tile, h, w, angle + u(-3, 3)) * self.near_bright
        if self.dense:
            coverage = self.dense_coverage * strength
            d = dense_layer(h, w, coverage / self.dense_length, self.dense_length, self.dense_width, angle + u(-2, 2), gen)
            rain = rain + d * self.dense_bright
        if self.splashes > 0:
            dots = _blur((torch.rand(1, 1, h, w, generator=gen) < self.splashes * strength).float(), 1.0)
            rain = rain + dots / dots.amax().clamp(min=1e-6) * 0.6
        self.t += 1
        return rain.clamp(0, 1)

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        """uint8 [3,h,w] -> the rainy uint8 [3,h,w] of the next frame."""
        if self.lv == 0:
            self.t += 1
            return img
        x = img.float()[None] / 255
        rainy = x + self.layer() * self.tint  # additive, as the literature's synthetic sets
        if self.haze > 0:
            a = self.haze * (1 + 0.3 * self.density_amp * self.density_drift(self.t)) * self.ramp
            rainy = rainy * (1 - a) + self.air * a
        return (rainy.clamp(0, 1)[0] * 255).round().to(torch.uint8)


def parse_size(s: str):
    try:
        w, h = (int(v) for v in s.lower().split("x"))
        if w > 0 and h > 0:
            return w, h
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{s!r} is not WIDTHxHEIGHT")


def frames_from_files(files: List[str]):
    for f in files:
        try:
            yield read_image(f, ImageReadMode.RGB)
        except RuntimeError as err:
            raise SystemExit(f"error: cannot read frame {f}: {err}")


def frames_from_pipe(w: int, h: int, stream):
    n = w * h * 3
    while True:
        buf = stream.read(n)
        if not buf:
            return
        if len(buf) != n:
            raise SystemExit(f"error: the raw input ended inside a frame ({len(buf)} of {n} bytes)")
        yield torch.frombuffer(bytearray(buf), dtype=torch.uint8).view(h, w, 3).permute(2, 0, 1).contiguous()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="video_rain", description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help="folder of clean frames (natural name order)")
    src.add_argument("--files", help="text file naming the clean frames, one a line")
    src.add_argument("--raw", type=parse_size, metavar="WxH", help="rgb24 frames of this size on stdin")
    ap.add_argument("--out", required=True, help="folder for the rainy frames (000001.png ...)")
    ap.add_argument("--rain", choices=list(LEVELS), default="heavy")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--streaks", help="Garg-Nayar streak layers folder (without: procedural streaks)")
    ap.add_argument("--compression", type=int, default=1, help="PNG compression level 0..9")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    if a.input is not None:
        frames = frames_from_files(list_images(a.input))
    elif a.files is not None:
        with open(a.files, encoding="utf8") as fh:
            frames = frames_from_files([line.rstrip("\n") for line in fh if line.strip()])
    else:
        frames = frames_from_pipe(a.raw[0], a.raw[1], sys.stdin.buffer)
    bank = None
    if a.streaks and LEVELS[a.rain] > 0:
        if not os.path.isdir(a.streaks):
            raise SystemExit(f"error: streak folder {a.streaks} does not exist")
        bank = StreakSubset(a.streaks, BANK_LAYERS, torch.Generator().manual_seed(a.seed + 7919))
    os.makedirs(a.out, exist_ok=True)
    rain: Optional[VideoRain] = None
    n = 0
    for img in frames:
        h, w = img.shape[-2:]
        if rain is None:
            rain = VideoRain(h, w, LEVELS[a.rain], a.seed, bank)
        elif (h, w) != (rain.h, rain.w):
            raise SystemExit(f"error: frame {n + 1} is {w}x{h}, the first was {rain.w}x{rain.h}")
        n += 1
        write_png(rain.apply(img), os.path.join(a.out, f"{n:06d}.png"), compression_level=a.compression)
    if n == 0:
        raise SystemExit("error: no frames")
    print(json.dumps({"frames": n, "seconds": round(time.perf_counter() - started, 3), "width": rain.w, "height": rain.h,
                      "rain": a.rain, "seed": a.seed, "params": rain.params}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
