"""Train FCLIP-UNet: L1 + perceptual loss, synthetic rain on clean images plus real pairs.

    /usr/bin/python3 -m models.fclip_unet.train --preset fclip-unet-lite \\
        --clean ../shared/data/clean-images --pairs ../shared/data/train-pairs \\
        --out runs/lite --steps 6000

Resumable: run the same command again and it continues from <out>/last.pt. Validation PSNR
(Y channel) and L1 on held-out clean images with fixed synthetic rain every --val-every steps,
logged to <out>/log.jsonl. Never point it at Rain100H: that is the benchmark.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import load_checkpoint, save_checkpoint
from .clip_weights import load_clip_weights
from .data import StreakBank, TrainingData, validation_set
from .model import FCLIPUNet, build


def y_channel(x: torch.Tensor) -> torch.Tensor:
    """Y of YCbCr (ITU-R BT.601, as the deraining literature), from RGB [0,1], in [0,255]."""
    w = torch.tensor([65.481, 128.553, 24.966], device=x.device).view(1, 3, 1, 1)
    return 16 + (x * w).sum(1, keepdim=True)


def psnr_y(a: torch.Tensor, b: torch.Tensor) -> float:
    ya = y_channel((a * 255).round() / 255).round()
    yb = y_channel((b * 255).round() / 255).round()
    mse = ((ya - yb) ** 2).flatten(1).mean(1).clamp(min=1e-10)
    return float((10 * torch.log10(255 ** 2 / mse)).mean())


class PerceptualLoss(nn.Module):
    """L1 between feature maps of a frozen network: VGG-16 (relu1_2 .. relu4_3) when its weights
    are given, otherwise the model's own encoder stages as they were at the start (CLIP's, when
    CLIP weights are loaded; random features otherwise, which still penalise structure)."""

    def __init__(self, model: FCLIPUNet, vgg_weights: Optional[str] = None):
        super().__init__()
        self.kind = "vgg16" if vgg_weights else "encoder"
        self.unshuffle = model.cfg.stem == "unshuffle"  # that encoder reads space-to-depth input
        if vgg_weights:
            from torchvision.models import vgg16

            net = vgg16()
            net.load_state_dict(torch.load(vgg_weights, map_location="cpu"))
            self.vgg = net.features[:23].eval()
            self.cut = {3, 8, 15, 22}
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        else:
            self.enc = copy.deepcopy(model.visual).eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def features(self, x: torch.Tensor) -> List[torch.Tensor]:
        if self.kind == "encoder":
            return self.enc(F.pixel_unshuffle(x, 2) if self.unshuffle else x)
        out, y = [], (x - self.mean) / self.std
        for i, layer in enumerate(self.vgg):
            y = layer(y)
            if i in self.cut:
                out.append(y)
        return out

    def train(self, mode: bool = True):
        return super().train(False)  # always frozen statistics

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fp = self.features(pred)
        with torch.no_grad():
            ft = self.features(target)
        return sum(F.l1_loss(a, b) for a, b in zip(fp, ft)) / len(fp)


def gradient_l1(pred: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """L1 between the horizontal and vertical differences: plain L1 pays little for blurred texture."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]
    return F.l1_loss(dx(pred), dx(clean)) + F.l1_loss(dy(pred), dy(clean))


def dry_out(rainy: torch.Tensor, clean: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    """The batch with a share of its samples left without rain (input = target), so the model
    learns to leave a clean image alone instead of blurring its texture."""
    if share <= 0:
        return rainy
    keep = (torch.rand(rainy.shape[0], generator=gen) < share).view(-1, 1, 1, 1).to(rainy.device)
    return torch.where(keep, clean, rainy)


def lr_at(step: int, total: int, base: float, warmup: int = 200) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


@torch.no_grad()
def validate(model: FCLIPUNet, rainy: torch.Tensor, clean: torch.Tensor, batch: int = 4) -> dict:
    model.eval()
    preds = torch.cat([model.derain(rainy[i:i + batch]) for i in range(0, len(rainy), batch)])
    model.train()
    return {"psnr": round(psnr_y(preds, clean), 3), "l1": round(float(F.l1_loss(preds, clean)), 5)}


def parse_args(argv: Optional[list]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python3 -m models.fclip_unet.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="fclip-unet-lite")
    ap.add_argument("--clean", action="append", default=[], help="folder of clean images (synthetic rain is added); repeatable")
    ap.add_argument("--pairs", action="append", default=[], help="folder with rain/ and norain/; repeatable")
    ap.add_argument("--out", required=True, help="run folder: checkpoints and log")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--stop-at", type=int, default=0, help="stop (with a checkpoint) at this step; the schedule stays that of --steps")
    ap.add_argument("--minutes", type=float, default=0, help="stop (with a checkpoint) after this wall time")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lambda-p", type=float, default=1.0, help="weight of the perceptual loss (paper: 1)")
    ap.add_argument("--dense-rain", type=float, default=0.6,
                    help="share of synthetic images with dense (photo-editor style) rain; 0: sparse streaks only, as the kit made before")
    ap.add_argument("--streaks", help="folder of rendered rain-streak layers (../shared/data/rain-streaks-garg-nayar)")
    ap.add_argument("--garg-rain", type=float, default=0.45,
                    help="share of synthetic images made of --streaks layers at several depths (with --streaks)")
    ap.add_argument("--real-fraction", type=float, default=0.25, help="share of each batch from real pairs")
    ap.add_argument("--dry", type=float, default=0.0, help="share of samples without rain (the target is the input)")
    ap.add_argument("--edge-loss", type=float, default=0.0, metavar="W", help="weight of an L1 loss on image gradients, for fine detail")
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--val-split", type=int, default=10,
                    help="every N-th image of the first --clean folder (or, without one, every N-th pair) is held out")
    ap.add_argument("--init", help="start from this checkpoint's weights (a new schedule and optimizer): fine-tuning")
    ap.add_argument("--clip-weights", help="CLIP RN50 weights: the encoder loads them and is frozen (the paper's setup)")
    ap.add_argument("--vgg-weights", help="torchvision VGG-16 state dict for the perceptual loss")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    os.makedirs(args.out, exist_ok=True)
    last = os.path.join(args.out, "last.pt")

    if not 0 <= args.dense_rain <= 1:
        raise SystemExit(f"error: --dense-rain is a share from 0 to 1 (got {args.dense_rain})")
    if not 0 <= args.garg_rain <= 1:
        raise SystemExit(f"error: --garg-rain is a share from 0 to 1 (got {args.garg_rain})")
    if not 0 <= args.dry < 1:
        raise SystemExit(f"error: --dry is a share from 0 to 1 (got {args.dry})")
    if args.edge_loss < 0:
        raise SystemExit(f"error: --edge-loss is a weight of 0 or more (got {args.edge_loss})")
    bank = StreakBank(args.streaks) if args.streaks else None
    garg = args.garg_rain if bank else 0.0
    data = TrainingData(args.clean, args.pairs, args.crop, val_every=args.val_split, real_fraction=args.real_fraction,
                        dense_fraction=args.dense_rain, bank=bank, garg_fraction=garg)
    if not data.val_files:
        raise SystemExit("error: no validation images: --val-split must be at least 1")
    val_rainy, val_clean = validation_set(data.val_files, dense_fraction=args.dense_rain, bank=bank, garg_fraction=garg)
    val_rainy, val_clean = val_rainy.to(dev), val_clean.to(dev)

    start, gen, init = 0, torch.Generator().manual_seed(args.seed), None
    if os.path.exists(last):
        model, ckpt = load_checkpoint(last)
        start = ckpt["step"]
        gen.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        print(f"resuming from {last} at step {start}", file=sys.stderr)
    elif args.init:
        if not os.path.exists(args.init):
            raise SystemExit(f"error: --init checkpoint {args.init} does not exist")
        model, init = load_checkpoint(args.init)
        ckpt = None
        print(f"starting from the weights of {args.init} (step {init['step']})", file=sys.stderr)
    else:
        model, ckpt = build(args.preset), None
        if args.clip_weights:
            print(f"encoder: {load_clip_weights(model, args.clip_weights)}", file=sys.stderr)
        else:
            print("encoder: no CLIP weights, randomly initialised and trained (not the paper's frozen-CLIP setup)", file=sys.stderr)
    model.to(dev).train()
    perceptual = PerceptualLoss(model, args.vgg_weights).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    if ckpt:
        opt.load_state_dict(ckpt["optimizer"])
    # the perceptual features stay those the run (or the run it fine-tunes) started with
    source = ckpt or (init if args.init else None)
    if source and source.get("perceptual") is not None and perceptual.kind == "encoder":
        perceptual.enc.load_state_dict(source["perceptual"])
    elif source and source.get("perceptual_seed") is not None and perceptual.kind == "encoder":
        # a slim checkpoint of a run from scratch: its features are the preset built under that seed
        from .slim import rebuilt_perceptual

        perceptual.enc.load_state_dict(rebuilt_perceptual(source["preset"], source["perceptual_seed"], source["config"]))

    training = {
        "command": "/usr/bin/python3 -m models.fclip_unet.train " + " ".join(sys.argv[1:] if argv is None else argv),
        "steps": args.steps, "batch": args.batch, "crop": args.crop, "lr": args.lr, "lambdaP": args.lambda_p, "dry": args.dry, "edgeLoss": args.edge_loss, "denseRain": args.dense_rain, "gargRain": garg, "streaks": args.streaks,
        "perceptual": perceptual.kind, "seed": args.seed, "data": data.counts, "device": str(dev),
        "clipWeights": bool(args.clip_weights) or bool(ckpt and ckpt.get("training", {}).get("clipWeights")),
    }
    if ckpt and ckpt.get("training", {}).get("init"):
        training["init"] = ckpt["training"]["init"]
    elif init:
        training["init"] = {"checkpoint": args.init, "training": init.get("training")}
    wall = ckpt.get("wall_seconds", 0.0) if ckpt else 0.0
    history = ckpt.get("history", []) if ckpt else []
    if not history:
        history.append({"step": 0, **validate(model, val_rainy, val_clean)})
        print(f"step 0: validation {history[-1]}", file=sys.stderr)

    def save(step: int) -> None:
        save_checkpoint(last, model, args.preset, step=step, optimizer=opt.state_dict(), generator=gen.get_state(),
                        torch_rng=torch.get_rng_state(), wall_seconds=wall, history=history,
                        training={**training, "stepsDone": step, "wallSeconds": round(wall)},
                        encoder_frozen=model.encoder_frozen,
                        perceptual=perceptual.enc.state_dict() if perceptual.kind == "encoder" else None,
                        provenance=f"trained by this project with models/fclip_unet/train.py ({step} steps)")

    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.steps, initial=start, unit="step", dynamic_ncols=True)
    t0, step, deadline = time.time(), start, (time.time() + args.minutes * 60) if args.minutes else None
    log = open(os.path.join(args.out, "log.jsonl"), "a")
    try:
        while step < args.steps:
            rainy, clean = data.batch(args.batch, gen)
            rainy = dry_out(rainy, clean, args.dry, gen)
            rainy, clean = rainy.to(dev), clean.to(dev)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, args.steps, args.lr)
            pred = rainy - model(rainy) if model.cfg.output == "residual" else model(rainy)
            l1 = F.l1_loss(pred, clean)
            loss = l1 + args.lambda_p * perceptual(pred, clean) if args.lambda_p else l1
            if args.edge_loss:
                loss = loss + args.edge_loss * gradient_l1(pred, clean)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            if bar:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}", val=history[-1]["psnr"])
            done = step >= args.steps or step == args.stop_at or (deadline is not None and time.time() >= deadline)
            if step % args.val_every == 0 or done:
                wall_now = wall + time.time() - t0
                history.append({"step": step, **validate(model, val_rainy, val_clean), "loss": round(loss.item(), 5),
                                "wallSeconds": round(wall_now)})
                log.write(json.dumps(history[-1]) + "\n")
                log.flush()
                wall, t0 = wall_now, time.time()
                save(step)
                if not bar:
                    print(f"step {step}: validation {history[-1]}", file=sys.stderr)
            if done:
                break
    except KeyboardInterrupt:
        wall += time.time() - t0
        t0 = time.time()
        save(step)
        print(f"\ninterrupted: saved {last} at step {step}", file=sys.stderr)
        return 130
    finally:
        if bar:
            bar.close()
        log.close()
    first, best = history[0], history[-1]
    print(f"done: step {step}, validation PSNR {first['psnr']} -> {best['psnr']} dB, L1 {first['l1']} -> {best['l1']}; checkpoint {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
