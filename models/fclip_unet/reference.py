"""Parity fixtures: a seeded model with every weight randomised (so no block is close to the
identity, as fresh ConvNeXt layer scales would be), exported to ONNX, with an input and
PyTorch's output saved as raw float32, for onnxruntime to be checked against.

    /usr/bin/python3 -m models.fclip_unet.reference --preset fclip-unet-lite --size 40x56 --out DIR
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from .export import embed_card, export, make_card
from .model import build


def randomised(preset: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build(preset)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point() or name in ("visual.mean", "visual.std"):
                continue  # CLIP's normalisation constants
            if name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif name.endswith(("running_mean", "bias")):
                t.normal_(0, 0.1)
            elif t.dim() <= 1 or name.endswith("gamma"):
                t.uniform_(0.5, 1.5)
            else:
                fan_in = t[0].numel()
                t.normal_(0, (1.0 / fan_in) ** 0.5)
    return model.eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="fclip-unet-lite")
    ap.add_argument("--size", default="40x56", help="HxW of the input (any size: the model pads)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.split("x"))
    os.makedirs(args.out, exist_ok=True)
    model = randomised(args.preset, args.seed)
    onnx_file = os.path.join(args.out, "model.onnx")
    export(model, onnx_file)
    embed_card(onnx_file, make_card(model, args.preset, onnx_file, {"provenance": "parity fixture: random weights"}))
    m = model.cfg.multiple
    # onnxruntime gets the padded size (the exported graph does not pad; the fused graph does)
    ph, pw = -(-h // m) * m, -(-w // m) * m
    gen = torch.Generator().manual_seed(args.seed + 1)
    x = torch.rand(1, 3, ph, pw, generator=gen)
    with torch.no_grad():
        y = model(x)
    x.numpy().astype("float32").tofile(os.path.join(args.out, "input.f32"))
    y.numpy().astype("float32").tofile(os.path.join(args.out, "output.f32"))
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump({"input": list(x.shape), "output": list(y.shape), "multiple": m, "outputName": model.cfg.output}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
