"""A moving-camera version of a fixed camera's clean clip, for the video benchmark.

A window `margin` pixels smaller on each side than the frame moves over it, at sub-pixel
positions (bilinear):
- pan: back and forth along a slanted line at `speed` pixels a frame (a slow pan),
- shake: a jitter of about `amount` pixels, smooth over a few frames (a camera on a mast in wind),
- both: the pan with the shake on top.
The motion depends only on the options, never on the picture. The output is a folder of clean
frames to give `derain eval-video` (its static and moving masks then come from the clean frames'
own change, as a moving camera has no fixed background):

    /usr/bin/python3 -m models.fclip_unet.camera_motion --input ../shared/data/traffic-highway-cdnet/input \\
        --from 1200 --to 1700 --motion pan --speed 2 --out /tmp/cdnet-pan
    npx derain eval-video /tmp/cdnet-pan --rain heavy --json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import torch
from torchvision.io import ImageReadMode, read_image, write_png

from .data import list_images


def offsets(n: int, motion: str, speed: float, amount: float, margin: int) -> torch.Tensor:
    """[n, 2] (dy, dx) window offsets from the centre, each within +-margin."""
    out = torch.zeros(n, 2)
    if motion in ("pan", "both"):
        reach = margin - (amount if motion == "both" else 0) - 1
        period = 4 * reach / max(speed, 1e-6)  # frames for a sweep there and back
        for i in range(n):
            p = (i / period) % 1.0
            tri = 4 * p - 1 if p < 0.5 else 3 - 4 * p  # -1 .. 1 .. -1 at `speed` px a frame
            out[i] = torch.tensor([0.35 * reach * tri, reach * tri])
    if motion in ("shake", "both"):
        for i in range(n):
            # sums of sines of incommensurate periods (3..11 frames): smooth, never repeating soon
            dy = 0.6 * math.sin(i * 2.1 + 0.3) + 0.4 * math.sin(i * 0.77 + 1.9)
            dx = 0.6 * math.sin(i * 1.7 + 2.2) + 0.4 * math.sin(i * 0.57 + 0.4)
            out[i] += torch.tensor([amount * dy, amount * dx])
    return out.clamp(-(margin - 1), margin - 1)


def window(img: torch.Tensor, dy: float, dx: float, margin: int) -> torch.Tensor:
    """The frame's window moved by (dy, dx) from the centre: float [3, H-2m, W-2m]."""
    _, h, w = img.shape
    y, x = margin + dy, margin + dx
    iy, ix = math.floor(y), math.floor(x)
    fy, fx = y - iy, x - ix
    oh, ow = h - 2 * margin, w - 2 * margin
    p = img[:, iy:iy + oh + 1, ix:ix + ow + 1]
    top = p[:, :oh] * (1 - fy) + p[:, 1:oh + 1] * fy
    return top[:, :, :ow] * (1 - fx) + top[:, :, 1:ow + 1] * fx


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m models.fclip_unet.camera_motion", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, help="folder of clean frames of a fixed camera")
    ap.add_argument("--from", dest="first", type=int, default=1, help="first frame, from 1")
    ap.add_argument("--to", dest="last", type=int, default=0, help="last frame, inclusive (default: the last)")
    ap.add_argument("--motion", choices=["pan", "shake", "both"], default="pan")
    ap.add_argument("--speed", type=float, default=2.0, help="pan speed, pixels a frame")
    ap.add_argument("--amount", type=float, default=2.0, help="shake, pixels")
    ap.add_argument("--margin", type=int, default=24, help="pixels cut from each side (the room to move)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    files = list_images(a.input)[a.first - 1:a.last or None]
    if not files:
        raise SystemExit(f"error: no frames {a.first}..{a.last or 'end'} in {a.input}")
    torch.set_num_threads(1)
    moves = offsets(len(files), a.motion, a.speed, a.amount, a.margin)
    os.makedirs(a.out, exist_ok=True)
    for i, f in enumerate(files):
        img = read_image(f, ImageReadMode.RGB).float()
        if min(img.shape[-2:]) <= 2 * a.margin + 16:
            raise SystemExit(f"error: {f} is too small for a margin of {a.margin}")
        out = window(img, float(moves[i, 0]), float(moves[i, 1]), a.margin)
        write_png(out.round().clamp(0, 255).to(torch.uint8), os.path.join(a.out, f"{i + 1:06d}.png"), compression_level=1)
    step = (moves[1:] - moves[:-1]).norm(dim=1) if len(files) > 1 else torch.zeros(1)
    print(json.dumps({"frames": len(files), "motion": a.motion, "meanStepPx": round(float(step.mean()), 2), "maxOffsetPx": round(float(moves.abs().max()), 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
