"""The mean of the weights of checkpoints of one architecture (a "model soup", Wortsman et al.
2022): fine-tunes from the same start lie in one basin, and their mean often scores above each
of them. Written as a slim checkpoint (float16 weights), the record of the first checkpoint kept
and every source named in `provenance` and `averaged`.

    /usr/bin/python3 -m models.fclip_unet.average models/fclip-unet-lite2-t5/weights.fp16.pt \\
        runs/t5-s6/step2100.fp16.pt --out /tmp/soup/weights.fp16.pt [--weights 0.5,0.5]

`export --checkpoint` and `train --init` read the result like any checkpoint.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

import torch

from .slim import RECORD, half, read


def average(sources: Sequence[str], dst: str, weights: Optional[Sequence[float]] = None) -> dict:
    if len(sources) < 2:
        raise SystemExit("error: give two checkpoints or more")
    weights = list(weights) if weights else [1.0 / len(sources)] * len(sources)
    if len(weights) != len(sources) or any(w < 0 for w in weights) or abs(sum(weights) - 1) > 1e-6:
        raise SystemExit(f"error: --weights: one non-negative weight per checkpoint, summing to 1 (got {weights})")
    ckpts = [read(src) for src in sources]
    first = ckpts[0]
    for src, ckpt in zip(sources[1:], ckpts[1:]):
        if ckpt.get("config") != first.get("config") or ckpt["model"].keys() != first["model"].keys():
            raise SystemExit(f"error: {src} is not the architecture of {sources[0]}")
    # counters (BatchNorm's num_batches_tracked) stay the first one's
    mean = {k: sum(w * c["model"][k].float() for w, c in zip(weights, ckpts)) if torch.is_tensor(v) and v.is_floating_point() else v
            for k, v in first["model"].items()}
    out = {k: first[k] for k in RECORD if k in first}
    out["model"] = half(mean)
    out["perceptual"] = None
    out["averaged"] = [{"checkpoint": s, "step": c.get("step"), "weight": w} for s, c, w in zip(sources, ckpts, weights)]
    out["provenance"] = "the mean of " + ", ".join(f"{w:g} x {s} (step {c.get('step')})" for s, c, w in zip(sources, ckpts, weights))
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    torch.save(out, dst)
    return out


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m models.fclip_unet.average", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", help="comma-separated, one per checkpoint, summing to 1 (default: equal)")
    a = ap.parse_args(argv)
    try:
        weights = [float(w) for w in a.weights.split(",")] if a.weights else None
    except ValueError:
        raise SystemExit(f"error: --weights must be numbers (got {a.weights!r})")
    out = average(a.checkpoints, a.out, weights)
    print(f"wrote {a.out}: {out['provenance']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
