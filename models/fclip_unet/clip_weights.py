"""Load CLIP RN50 image-encoder weights into FCLIP-UNet's encoder.

Reads OpenAI's `RN50.pt` (a TorchScript archive) or a plain state dict (OpenAI layout with
`visual.*` keys, or open_clip's, which uses the same names). The encoder's module names are
OpenAI's, so keys map one to one; the attention pool and the text tower are not part of the
encoder and are set aside. A checkpoint that lacks an encoder key, or has a `visual.*` key the
encoder does not know, is an error naming the keys.
"""
from __future__ import annotations

from typing import Dict

import torch

from .model import FCLIPUNet

# parts of CLIP's visual tower that FCLIP-UNet leaves out on purpose
SET_ASIDE = ("visual.attnpool.",)


def read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    try:
        archive = torch.jit.load(path, map_location="cpu")
        return archive.state_dict()
    except (RuntimeError, ValueError):
        pass
    try:
        sd = torch.load(path, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise SystemExit(f"error: cannot read CLIP weights {path}: {err}")
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise SystemExit(f"error: {path} holds no state dict")
    return sd


def encoder_state(sd: Dict[str, torch.Tensor], stages: int) -> Dict[str, torch.Tensor]:
    # open_clip may prefix with "module." when saved from DataParallel
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    keep = {}
    for k, v in sd.items():
        if not k.startswith("visual.") or k.startswith(SET_ASIDE):
            continue
        rest = k[len("visual."):]
        if rest in ("mean", "std"):
            continue  # normalisation constants (TorchScript archives of this encoder carry them)
        if rest.startswith("layer") and int(rest[5]) > stages:
            continue  # deeper stages than this configuration uses
        keep[rest] = v
    return keep


def load_clip_weights(model: FCLIPUNet, path: str, freeze: bool = True) -> str:
    sd = encoder_state(read_state_dict(path), model.cfg.stages)
    if not sd:
        raise SystemExit(f"error: {path} has no visual.* (CLIP image encoder) weights")
    try:
        result = model.visual.load_state_dict(sd, strict=False)
    except RuntimeError as err:  # shapes differ: another width than RN50's, or not CLIP at all
        first = str(err).strip().splitlines()[1:2] or [str(err)]
        raise SystemExit(f"error: {path} does not fit this encoder (is the preset's width RN50's 64?): {first[0].strip()}")
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise SystemExit(
            f"error: {path} does not match the CLIP RN50 encoder: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    if freeze:
        model.freeze_encoder()
    return f"{len(sd)} tensors loaded{', frozen' if freeze else ''}"
