"""Export an FCLIP-UNet to ONNX (opset 17, dynamic height and width) with its model card.

    /usr/bin/python3 -m models.fclip_unet.export --out /tmp/fclip.onnx
    /usr/bin/python3 -m models.fclip_unet.export --checkpoint runs/lite/last.pt --out models/fclip-unet-lite/model.onnx

The card (`card.json` beside a `model.onnx`, otherwise `<file>.card.json`) is also embedded in the ONNX metadata under `derain.card`, so a bare .onnx carries it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional

import torch

from .checkpoint import load_checkpoint
from .clip_weights import load_clip_weights
from .flops import conv_macs
from .fold import fold_input
from .model import FCLIPUNet, build, count_params
from . import fp16 as fp16_convert

OPSET = 17
CARD_KEY = "derain.card"


def gflop(module, h: int, w: int, channels: int = 3, unshuffled: bool = False) -> float:
    """At h x w full-resolution pixels (an encoder behind the unshuffle stem sees 12 x h/2 x w/2
    a frame: `unshuffled` says the channels are already space-to-depth ones)."""
    r = 2 if unshuffled else 1
    return round(2 * conv_macs(module, torch.rand(1, channels, h // r, w // r)) / 1e9, 3)


def make_card(model: FCLIPUNet, name: str, onnx_file: str, extra: dict) -> dict:
    cfg = model.cfg
    m = cfg.multiple
    # cost at 640x360, padded to the multiple as the fused graph does
    h, w = -(-360 // m) * m, -(-640 // m) * m
    card = {
        "name": name,
        "onnx": os.path.basename(onnx_file),
        "input": "NCHW float32 RGB [0,1]",
        "output": cfg.output,
        "sizeMultiple": m,
        "architecture": "FCLIP-UNet (CLIP-RN50 encoder stages, UpDWBlock + ConvNeXt-T decoder, LDFPS)",
        "config": cfg.to_dict(),
        "parameters": count_params(model),
        "encoderParameters": count_params(model.visual),
        "gflop640x360": {
            "model": gflop(model, h, w, 3 * cfg.frames),
            "encoder": gflop(model.visual, h, w, cfg.in_channels, cfg.stem == "unshuffle"),
            "convention": "2 x multiply-accumulates of all convolutions, input padded to the size multiple",
        },
    }
    if cfg.frames > 1:
        card["frames"] = cfg.frames
    card.update(extra)
    return card


def export(model: FCLIPUNet, out: str, half: bool = False, half_weights: bool = False, fold: bool = True) -> None:
    model.eval()
    if fold and model.cfg.stem == "unshuffle":
        model = fold_input(model)
    m = model.cfg.multiple
    # an example of a multiple size: the exported graph does no padding, the card asks for it
    x = torch.rand(1, 3 * model.cfg.frames, 2 * m if m >= 32 else 64, 3 * m if m >= 32 else 96)
    names = ["image" if model.cfg.output == "image" else "residual"]
    torch.onnx.export(
        model, x, out, opset_version=OPSET, input_names=["input"], output_names=names,
        dynamic_axes={"input": {2: "height", 3: "width"}, names[0]: {2: "height", 3: "width"}},
        do_constant_folding=True,
    )
    if half:
        fp16_convert.convert_file(out)
    elif half_weights:
        fp16_convert.compress_file(out)


def embed_card(onnx_file: str, card: dict) -> None:
    import onnx

    model = onnx.load(onnx_file)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_KEY, json.dumps(card)
    onnx.save(model, onnx_file)


def card_path(onnx_file: str) -> str:
    """models/<name>/model.onnx gets models/<name>/card.json (the project's layout); any other
    file gets a card named after it."""
    if os.path.basename(onnx_file) == "model.onnx":
        return os.path.join(os.path.dirname(os.path.abspath(onnx_file)), "card.json")
    return os.path.splitext(onnx_file)[0] + ".card.json"


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m models.fclip_unet.export", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--preset", default="fclip-unet", help="architecture preset (fclip-unet, fclip-unet-lite)")
    ap.add_argument("--checkpoint", help="a train.py checkpoint (its preset and config win over --preset)")
    ap.add_argument("--clip-weights", help="OpenAI RN50.pt or an open_clip state dict, for the encoder")
    ap.add_argument("--name", help="model name in the card (default: the preset)")
    ap.add_argument("--fp16", action="store_true", help="float16 weights and arithmetic (float32 input and output)")
    ap.add_argument("--fp16-weights", action="store_true",
                    help="store weights as float16 (half the file), compute in float32")
    ap.add_argument("--no-fold", action="store_true",
                    help="keep the space-to-depth of the input as a Transpose (fold.py: the default folds it into two convolutions, same function)")
    ap.add_argument("--infer-size", help="recommended inference size WxH for the card (e.g. 320x180 for CPU real time)")
    ap.add_argument("--card-extra", help="JSON object merged into the card (quality, speed, training)")
    args = ap.parse_args(argv)

    extra: dict = {}
    if args.checkpoint:
        model, meta = load_checkpoint(args.checkpoint)
        name = args.name or meta.get("preset", args.preset)
        extra["training"] = meta.get("training", {})
        extra["provenance"] = meta.get("provenance", "trained with models/fclip_unet/train.py")
    else:
        model = build(args.preset)
        name = args.name or args.preset
        extra["provenance"] = "untrained: random initialisation (removes no rain); train with models/fclip_unet/train.py"
    if args.clip_weights:
        report = load_clip_weights(model, args.clip_weights)
        extra["encoderWeights"] = f"CLIP RN50 from {os.path.basename(args.clip_weights)} ({report})"
    elif not args.checkpoint or not extra.get("training", {}).get("clipWeights"):
        extra["encoderWeights"] = "none: the encoder is randomly initialised and trained, not the paper's frozen CLIP setup"
    extra["license"] = "MIT (this project); CLIP weights, if loaded, are under OpenAI's MIT licence"
    extra["precision"] = "fp16" if args.fp16 else "fp32, weights stored as fp16" if args.fp16_weights else "fp32"
    if args.infer_size:
        try:
            w, h = (int(v) for v in args.infer_size.lower().split("x"))
        except ValueError:
            raise SystemExit(f"error: --infer-size must be WxH, e.g. 320x180 (got {args.infer_size!r})")
        extra["inferSize"] = [w, h]
    if args.card_extra:
        try:
            extra.update(json.loads(args.card_extra))
        except json.JSONDecodeError as err:
            raise SystemExit(f"error: --card-extra is not a JSON object: {err}")

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    t0 = time.time()
    export(model, args.out, half=args.fp16, half_weights=args.fp16_weights, fold=not args.no_fold)
    card = make_card(model, name, args.out, extra)
    embed_card(args.out, card)
    cpath = card_path(args.out)
    with open(cpath, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, {card['parameters'] / 1e6:.2f} M parameters, "
          f"{card['gflop640x360']['model']} GFLOP at 640x360) and {cpath} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
