"""Checkpoints of train.py: the weights, the architecture that reads them, and how they were made."""
from __future__ import annotations

from typing import Tuple

import torch

from .model import Config, FCLIPUNet


def save_checkpoint(path: str, model: FCLIPUNet, preset: str, **state) -> None:
    tmp = path + ".tmp"
    torch.save({"preset": preset, "config": model.cfg.to_dict(), "model": model.state_dict(), **state}, tmp)
    # rename, so an interrupted save never leaves a truncated checkpoint behind
    import os
    os.replace(tmp, path)


def load_checkpoint(path: str) -> Tuple[FCLIPUNet, dict]:
    try:
        ckpt = torch.load(path, map_location="cpu")
    except (OSError, RuntimeError) as err:
        raise SystemExit(f"error: cannot read checkpoint {path}: {err}")
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise SystemExit(f"error: {path} is not a models/fclip_unet checkpoint (no model/config)")
    model = FCLIPUNet(Config(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    if ckpt.get("encoder_frozen"):
        model.freeze_encoder()
    return model, ckpt
