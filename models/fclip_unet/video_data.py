"""Training data for temporal models: short clips of a camera with fresh rain on every frame.

A sample is `frames` consecutive frames, stacked current first (t, t-1, t-2, ...) as the
model and the fused graph take them, with the current frame's clean image as the target. Clips
come from:
- clean fixed-camera video: CDnet highway frames (1..1099: 1100..1199 validate, 1200.. are the
  benchmark's) and the car-park clip (all but its last 100 frames, the benchmark's), with a
  random temporal stride so traffic moves at several speeds;
- still images made to move: a clean background with patches cut from other images crossing it
  at varied speeds, a slow global brightness change;
- single rainy/clean photographs (the real pairs, and stills with image-style rain), seen as a
  camera's first frame: every past frame is the current one, as the fused graph gives a model
  after a reset, so the model keeps single-image quality.
Camera motion is added to a share of the clips (a pan of up to a few pixels a frame, or shake),
so the model learns to use the past only where it lines up, and a few clips cut to another
scene. The rain comes from the video benchmark's generator (video_rain.VideoRain): far layers
falling, near drops and dense rain fresh every frame, a veil in heavy rain.
"""
from __future__ import annotations

import math
import os
import subprocess
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .data import StreakBank, add_rain, list_images, load_rgb, paired_files
from .video_rain import VideoRain


def load_frames(folder: str, first: int, last: int) -> torch.Tensor:
    """uint8 [N,3,H,W] of the folder's images first..last (1-based, in natural order)."""
    files = list_images(folder)[first - 1:last]
    if not files:
        raise SystemExit(f"error: no frames {first}..{last} in {folder}")
    return torch.stack([load_rgb(f) for f in files])


def decode_video(path: str, drop_last: int, ffmpeg: str = "ffmpeg", max_width: int = 768) -> torch.Tensor:
    """uint8 [N,3,H,W] of a video's frames, without its last `drop_last` (the benchmark's)."""
    probe = subprocess.run([ffmpeg, "-v", "error", "-i", path, "-map", "0:v:0", "-vf", f"scale='min({max_width},iw)':-2",
                            "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True)
    if probe.returncode != 0:
        raise SystemExit(f"error: cannot decode {path}: {probe.stderr.decode(errors='replace').strip()[-300:]}")
    info = subprocess.run([ffmpeg, "-v", "error", "-i", path, "-map", "0:v:0", "-vf", f"scale='min({max_width},iw)':-2",
                           "-frames:v", "1", "-f", "image2pipe", "-vcodec", "ppm", "-"], capture_output=True).stdout
    w, h = (int(v) for v in info.split(b"\n")[1].split())
    data = torch.frombuffer(bytearray(probe.stdout), dtype=torch.uint8)
    n = data.numel() // (w * h * 3)
    frames = data[: n * w * h * 3].view(n, h, w, 3).permute(0, 3, 1, 2).contiguous()
    return frames[: max(0, n - drop_last)]


class Motion:
    """Per-frame camera offsets (pixels, float) for a clip of `t` frames: none, a pan, or shake."""

    def __init__(self, t: int, gen: torch.Generator, pan: float, shake: float):
        r = float(torch.rand((), generator=gen))
        self.offsets = torch.zeros(t, 2)
        if r < pan:
            speed = 0.3 + 3.7 * float(torch.rand((), generator=gen)) ** 1.5
            a = 2 * math.pi * float(torch.rand((), generator=gen))
            steps = torch.arange(t, dtype=torch.float32)[:, None]
            self.offsets = steps * torch.tensor([[speed * math.cos(a), speed * math.sin(a)]])
        elif r < pan + shake:
            self.offsets = torch.randn(t, 2, generator=gen) * (0.5 + 2.0 * float(torch.rand((), generator=gen)))
            self.offsets[0] = 0
        self.margin = int(math.ceil(float(self.offsets.abs().max()))) + 1

    def window(self, img: torch.Tensor, i: int, y: int, x: int, crop: int) -> torch.Tensor:
        """The crop x crop window at (y, x) of float [1,3,H,W] `img`, moved by frame i's offset."""
        dy, dx = (float(v) for v in self.offsets[i])
        if dy == 0 and dx == 0:
            return img[..., y:y + crop, x:x + crop]
        iy, ix = math.floor(y + dy), math.floor(x + dx)
        patch = img[..., iy:iy + crop + 1, ix:ix + crop + 1]
        fy, fx = y + dy - iy, x + dx - ix
        # bilinear shift by the fraction: real pans move by fractions of a pixel
        top = patch[..., :crop, :] * (1 - fy) + patch[..., 1:crop + 1, :] * fy
        return top[..., :, :crop] * (1 - fx) + top[..., :, 1:crop + 1] * fx


# share of samples that are a single photograph (every past frame the current one)
SINGLES = 0.12


class VideoTrainingData:
    def __init__(self, frames: int, crop: int, cdnet: Optional[str], videos: Sequence[str], clean_dirs: Sequence[str],
                 pair_dirs: Sequence[str], bank: Optional[StreakBank], cdnet_range: Tuple[int, int] = (1, 1099),
                 video_drop_last: int = 100, val_every: int = 10, pool: int = 16, pan: float = 0.25, shake: float = 0.1,
                 stills: float = 0.3, singles: float = SINGLES, cut: float = 0.03, ffmpeg: str = "ffmpeg", dry: float = 0.0):
        self.t, self.crop, self.bank = frames, crop, bank
        # a share of sequences without rain: without them the model never sees a dry scene and
        # takes fine texture for rain (on CDnet's clean frames it returned 28.3-28.6 dB)
        self.dry = dry
        self.pan, self.shake, self.stills, self.singles, self.cut = pan, shake, stills, singles, cut
        self.clips: List[torch.Tensor] = []
        if cdnet:
            self.clips.append(load_frames(cdnet, *cdnet_range))
        for v in videos:
            self.clips.append(decode_video(v, video_drop_last, ffmpeg))
        clean_files: List[str] = []
        for d in clean_dirs:
            clean_files += list_images(d)
        self.val_files = list_images(clean_dirs[0])[::val_every] if clean_dirs and val_every > 0 else []
        held = set(self.val_files)
        self.still_images = [load_rgb(f, 768) for f in clean_files if f not in held]
        self.still_images = [s for s in self.still_images if min(s.shape[-2:]) >= crop + 16]
        self.pairs = [(load_rgb(r, 768), load_rgb(c, 768)) for d in pair_dirs for r, c in paired_files(d)]
        self.pairs = [p for p in self.pairs if min(p[0].shape[-2:]) >= crop]
        if not self.clips and not self.still_images:
            raise SystemExit("error: no clean video and no clean images to train on")
        self.pool: List[VideoRain] = []
        self.pool_size = pool
        self.counts = {"clips": [int(c.shape[0]) for c in self.clips], "stills": len(self.still_images), "pairs": len(self.pairs),
                       "validation": len(self.val_files)}

    # -- rain
    def _fresh_rain(self, gen: torch.Generator) -> VideoRain:
        seed = int(torch.randint(1 << 30, (1,), generator=gen))
        level = float(torch.rand((), generator=gen)) ** 0.6
        return VideoRain(self.crop, self.crop, max(0.15, level), seed, self.bank)

    def refresh(self, gen: torch.Generator) -> None:
        """Replaces one rain generator of the pool (a generator costs ~0.1 s: one a batch)."""
        while len(self.pool) < self.pool_size:
            self.pool.append(self._fresh_rain(gen))
        self.pool[int(torch.randint(len(self.pool), (1,), generator=gen))] = self._fresh_rain(gen)

    def _rain(self, gen: torch.Generator) -> VideoRain:
        if not self.pool:
            self.refresh(gen)
        return self.pool[int(torch.randint(len(self.pool), (1,), generator=gen))]

    def _rainy(self, clean: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """[T,3,h,w] clean in time order (oldest first) -> rainy, one rain frame after another."""
        # (drawn only when asked for, so runs without --dry keep their random stream)
        if self.dry > 0 and float(torch.rand((), generator=gen)) < self.dry:
            return clean.clone()
        rain = self._rain(gen)
        out = []
        for frame in clean:
            out.append(rain.apply((frame * 255).round().to(torch.uint8)).float() / 255)
        return torch.stack(out)

    # -- clean clips, oldest frame first
    def _video_clip(self, gen: torch.Generator, motion: Motion) -> torch.Tensor:
        clip = self.clips[int(torch.randint(len(self.clips), (1,), generator=gen))]
        stride = [1, 1, 2, 3][int(torch.randint(4, (1,), generator=gen))]
        n = clip.shape[0]
        start = int(torch.randint(max(1, n - stride * (self.t - 1)), (1,), generator=gen))
        idx = [min(n - 1, start + stride * i) for i in range(self.t)]
        return self._cut(clip[idx], gen, motion)

    def _region(self, h: int, w: int, gen: torch.Generator, motion: Motion) -> Tuple[int, int, int]:
        """Top-left corner and side of the region that the moving crop window stays inside."""
        c, m = self.crop, motion.margin
        if h < c + 2 * m or w < c + 2 * m:  # a scene too small for this motion: a smaller one
            motion.offsets *= 0
            m = motion.margin = 1
        y = int(torch.randint(0, h - c - 2 * m + 1, (1,), generator=gen))
        x = int(torch.randint(0, w - c - 2 * m + 1, (1,), generator=gen))
        return y, x, c + 2 * m

    def _cut(self, frames: torch.Tensor, gen: torch.Generator, motion: Motion, region: Optional[Tuple[int, int, int]] = None) -> torch.Tensor:
        """Windows of the uint8 or float frames [T,3,H,W] along the camera's motion, float [T,3,c,c]."""
        y, x, side = region or self._region(*frames.shape[-2:], gen, motion)
        part = frames[..., y:y + side, x:x + side]
        part = part.float() / 255 if part.dtype == torch.uint8 else part
        m = motion.margin
        out = torch.stack([motion.window(part[i:i + 1], i, m, m, self.crop)[0] for i in range(self.t)])
        return out.flip(-1) if bool(torch.rand((), generator=gen) < 0.5) else out

    def _still_clip(self, gen: torch.Generator, motion: Motion) -> torch.Tensor:
        pick = lambda: self.still_images[int(torch.randint(len(self.still_images), (1,), generator=gen))]  # noqa: E731
        bg = pick()
        y, x, side = self._region(*bg.shape[-2:], gen, motion)
        frames = (bg[:, y:y + side, x:x + side].float() / 255)[None].repeat(self.t, 1, 1, 1)
        for _ in range(int(torch.randint(1, 4, (1,), generator=gen))):
            src = pick()
            ph = int(torch.randint(16, 72, (1,), generator=gen))
            pw = int(torch.randint(16, 96, (1,), generator=gen))
            sy = int(torch.randint(src.shape[-2] - ph + 1, (1,), generator=gen))
            sx = int(torch.randint(src.shape[-1] - pw + 1, (1,), generator=gen))
            patch = src[:, sy:sy + ph, sx:sx + pw].float() / 255
            yy = torch.linspace(-1, 1, ph).view(-1, 1)
            xx = torch.linspace(-1, 1, pw).view(1, -1)
            mask = ((1 - (yy ** 2 + xx ** 2)) * 4).clamp(0, 1)  # a soft-edged ellipse
            speed = 1 + 9 * float(torch.rand((), generator=gen))
            a = 2 * math.pi * float(torch.rand((), generator=gen))
            y0 = float(torch.randint(0, max(1, side - ph), (1,), generator=gen))
            x0 = float(torch.randint(0, max(1, side - pw), (1,), generator=gen))
            for i in range(self.t):
                py = int(round(y0 + i * speed * math.sin(a)))
                px = int(round(x0 + i * speed * math.cos(a)))
                if 0 <= py <= side - ph and 0 <= px <= side - pw:
                    region = frames[i, :, py:py + ph, px:px + pw]
                    frames[i, :, py:py + ph, px:px + pw] = region * (1 - mask) + patch * mask
        gain = 1 + 0.03 * float(torch.randn((), generator=gen)) * torch.arange(self.t, dtype=torch.float32).view(-1, 1, 1, 1)
        return self._cut((frames * gain).clamp(0, 1), gen, motion, (0, 0, side))

    @staticmethod
    def moving(clean: torch.Tensor, threshold: float = 0.04, grow: int = 9) -> torch.Tensor:
        """[1,c,c] 1 where the clean current frame differs from the one before it (grown by
        `grow` px): where the past cannot stand in for the present."""
        changed = ((clean[-1] - clean[-2]).abs().amax(0, keepdim=True) > threshold).float()
        return F.max_pool2d(changed[None], grow, 1, grow // 2)[0]

    def sample(self, gen: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One sample: stacked rainy frames [3T,c,c] (current first), the clean current [3,c,c]
        and where the scene moves [1,c,c] (none for a single photograph, all of it after a cut)."""
        r = float(torch.rand((), generator=gen))
        if r < self.singles:
            # a single photograph: the past is the current frame itself (a reset)
            if self.pairs and float(torch.rand((), generator=gen)) < 0.5:
                rain_img, clean_img = self.pairs[int(torch.randint(len(self.pairs), (1,), generator=gen))]
                h, w = rain_img.shape[-2:]
                y = int(torch.randint(h - self.crop + 1, (1,), generator=gen))
                x = int(torch.randint(w - self.crop + 1, (1,), generator=gen))
                rainy, clean = (img[:, y:y + self.crop, x:x + self.crop].float() / 255 for img in (rain_img, clean_img))
            else:
                clean = self._still_clip(gen, Motion(self.t, gen, 0, 0))[0]
                rainy = add_rain(clean[None], torch.rand(1, generator=gen) ** 0.7, gen, 0.6, self.bank, 0.45 if self.bank else 0)[0]
            return rainy.repeat(self.t, 1, 1), clean, torch.zeros(1, self.crop, self.crop)
        motion = Motion(self.t, gen, self.pan, self.shake)
        use_still = not self.clips or (self.still_images and float(torch.rand((), generator=gen)) < self.stills / (1 - self.singles))
        clean = self._still_clip(gen, motion) if use_still else self._video_clip(gen, motion)
        rainy = self._rainy(clean, gen)
        moving = self.moving(clean) if self.t > 1 else torch.zeros(1, self.crop, self.crop)
        if float(torch.rand((), generator=gen)) < self.cut and self.t > 1:
            # a cut: the past frames are another scene's
            other = self._still_clip(gen, Motion(self.t, gen, 0, 0)) if self.still_images else clean.flip(-2)
            k = int(torch.randint(1, self.t, (1,), generator=gen))
            rainy[:k] = self._rainy(other, gen)[:k]
            moving = torch.ones_like(moving)
        # time order oldest..current -> the model's order current, t-1, t-2, ...
        return rainy.flip(0).reshape(-1, self.crop, self.crop), clean[-1], moving

    def batch(self, n: int, gen: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stacked samples: rainy [n,3T,c,c], clean [n,3,c,c], moving [n,1,c,c]."""
        self.refresh(gen)
        samples = [self.sample(gen) for _ in range(n)]
        return tuple(torch.stack([s[i] for s in samples]) for i in range(3))  # type: ignore[return-value]


def video_validation_set(data: VideoTrainingData, cdnet: Optional[str], n: int = 24, seed: int = 4321,
                         cdnet_range: Tuple[int, int] = (1100, 1199)) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed clips never trained on: CDnet frames 1100..1199 (still camera, then some with a pan)
    and the held-out clean images made to move; the same rain for the same seed. Rainy, clean
    and moving, as batch() gives them."""
    gen = torch.Generator().manual_seed(seed)
    saved = (data.clips, data.still_images, data.pool, data.singles, data.cut, data.dry)
    data.clips = [load_frames(cdnet, *cdnet_range)] if cdnet else []
    data.still_images = [load_rgb(f, 768) for f in data.val_files]
    data.still_images = [s for s in data.still_images if min(s.shape[-2:]) >= data.crop + 16]
    data.pool, data.singles, data.cut, data.dry = [], 0.0, 0.0, 0.0
    try:
        # a generator of its own for each clip
        pairs = []
        for _ in range(n):
            data.pool = [data._fresh_rain(gen)]
            pairs.append(data.sample(gen))
        out = tuple(torch.stack([p[i] for p in pairs]) for i in range(3))
    finally:
        data.clips, data.still_images, data.pool, data.singles, data.cut, data.dry = saved
    return out  # type: ignore[return-value]
