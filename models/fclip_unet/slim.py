"""A small checkpoint to commit and resume from: the weights as float16, the architecture and
how they were trained; no optimizer state. The perceptual loss's frozen features are the
encoder the run started with: when they are exactly what the preset builds under the run's seed
(a run from scratch), only that seed is kept and train.py rebuilds them; otherwise they are kept
as float16.

    /usr/bin/python3 -m models.fclip_unet.slim runs/lite2/last.pt models/fclip-unet-lite2/weights.fp16.pt
    /usr/bin/python3 -m models.fclip_unet.train ... --init models/fclip-unet-lite2/weights.fp16.pt

`train --init` and `export --checkpoint` read it like any checkpoint (weights back in float32).
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import torch

from .model import build


def half(state: Optional[dict]) -> Optional[dict]:
    if state is None:
        return None
    return {k: v.half() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in state.items()}


def rebuilt_perceptual(preset: str, seed: int, config: dict) -> Optional[dict]:
    """The encoder a run from scratch starts with (train.py seeds torch, then builds the preset)."""
    state = torch.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = build(preset, **config)
    except (ValueError, TypeError):
        return None
    finally:
        torch.set_rng_state(state)
    return model.visual.state_dict()


# what a small checkpoint keeps of a run's record, besides the weights
RECORD = ("preset", "config", "step", "training", "history", "wall_seconds", "encoder_frozen", "provenance")


def read(src: str) -> dict:
    """A models/fclip_unet checkpoint, or one clear error naming the file."""
    try:
        ckpt = torch.load(src, map_location="cpu")
    except (OSError, RuntimeError) as err:
        raise SystemExit(f"error: cannot read checkpoint {src}: {err}")
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise SystemExit(f"error: {src} is not a models/fclip_unet checkpoint")
    return ckpt


def slim(src: str, dst: str) -> int:
    ckpt = read(src)
    keep = {k: ckpt[k] for k in RECORD if k in ckpt}
    keep["model"] = half(ckpt["model"])
    perceptual = ckpt.get("perceptual")
    seed = (ckpt.get("training") or {}).get("seed")
    if perceptual is not None and seed is not None and rebuilt_perceptual(ckpt["preset"], seed, ckpt["config"]) is not None:
        fresh = rebuilt_perceptual(ckpt["preset"], seed, ckpt["config"])
        if fresh.keys() == perceptual.keys() and all(torch.equal(fresh[k], perceptual[k]) for k in fresh):
            keep["perceptual_seed"] = seed
            perceptual = None
    keep["perceptual"] = half(perceptual)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    torch.save(keep, dst)
    print(f"wrote {dst} ({os.path.getsize(dst) / 1e6:.1f} MB, step {keep.get('step')})")
    return 0


def main(argv: Optional[list] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python3 -m models.fclip_unet.slim CHECKPOINT OUT")
    return slim(*args)


if __name__ == "__main__":
    sys.exit(main())
