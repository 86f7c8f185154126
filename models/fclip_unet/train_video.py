"""Train a temporal FCLIP-UNet: the current frame and the past ones in, the current clean frame out.

    /usr/bin/python3 -m models.fclip_unet.train_video --init models/fclip-unet-lite2/weights.fp16.pt \\
        --frames 5 --cdnet ../shared/data/traffic-highway-cdnet/input \\
        --video ../shared/data/traffic-video/car-detection.mp4 --clean ../shared/data/clean-images \\
        --pairs ../shared/data/train-pairs --streaks ../shared/data/rain-streaks-garg-nayar \\
        --out runs/lite2-t5 --steps 4000

--init takes a single-frame checkpoint and widens it (model.with_frames): the weights that read
the past start at zero, so the run starts at the single-frame model's quality and learns what
the past adds. Resumable like train.py (run the same command again). Validation every
--val-every steps on clips never trained on (video_data.video_validation_set), logged to
<out>/log.jsonl. Loss: L1 on the current frame.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint, save_checkpoint
from .data import StreakBank
from .model import build, with_frames
from .train import gradient_l1, lr_at, psnr_y, y_channel
from .video_data import SINGLES, VideoTrainingData, video_validation_set


def frame_range(s: str) -> Tuple[int, int]:
    try:
        a, b = (int(v) for v in s.split("-"))
        if 1 <= a <= b:
            return a, b
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{s!r} is not a frame range A-B (from 1)")


def parse_args(argv: Optional[list]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python3 -m models.fclip_unet.train_video", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", help="single-frame (or same-frames) checkpoint to start from")
    ap.add_argument("--preset", default="fclip-unet-lite2", help="architecture without --init")
    ap.add_argument("--frames", type=int, default=5, help="frames in: the current one and frames-1 past ones")
    ap.add_argument("--cdnet", help="CDnet highway input/ folder (frames 1..1099 train, 1100..1199 validate)")
    ap.add_argument("--cdnet-frames", type=frame_range, default=(1, 1099), metavar="A-B", help="CDnet frames to train on (default 1-1099)")
    ap.add_argument("--cdnet-val", type=frame_range, default=(1100, 1199), metavar="A-B", help="CDnet frames to validate on (default 1100-1199)")
    ap.add_argument("--video", action="append", default=[], help="clean video file (all but its last 100 frames); repeatable")
    ap.add_argument("--clean", action="append", default=[], help="clean images made to move; repeatable")
    ap.add_argument("--pairs", action="append", default=[], help="rain/ + norain/ photographs, as first frames; repeatable")
    ap.add_argument("--streaks", help="Garg-Nayar streak layers folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--stop-at", type=int, default=0, help="stop (with a checkpoint) at this step; the schedule stays that of --steps")
    ap.add_argument("--minutes", type=float, default=0, help="stop (with a checkpoint) after this wall time")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dry", type=float, default=0.0, help="share of sequences without rain (the target is the input)")
    ap.add_argument("--singles", type=float, default=SINGLES,
                    help="share of single photographs, every past frame the current one: the model's single-frame skill")
    ap.add_argument("--edge-loss", type=float, default=0.0, metavar="W", help="weight of an L1 loss on image gradients, for fine detail")
    ap.add_argument("--moving-weight", type=float, default=0.0, metavar="W",
                    help="weight the L1 loss by 1 + W where the scene moves (the past cannot help there)")
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return ap.parse_args(argv)


def moving_weighted_l1(pred: torch.Tensor, clean: torch.Tensor, moving: torch.Tensor, weight: float) -> torch.Tensor:
    """L1 with the moving pixels counting 1 + weight times, on the same scale as plain L1."""
    w = 1 + weight * moving
    return ((pred - clean).abs() * w).mean() / w.mean()


def psnr_y_moving(pred: torch.Tensor, clean: torch.Tensor, moving: torch.Tensor) -> float:
    """Y-PSNR over the moving pixels of the whole set (as eval-video counts them)."""
    ya = y_channel((pred * 255).round() / 255).round()
    yb = y_channel((clean * 255).round() / 255).round()
    m = moving.expand_as(ya) > 0
    if not bool(m.any()):
        return float("nan")
    mse = float(((ya - yb)[m] ** 2).mean())
    return round(10 * math.log10(255 ** 2 / max(mse, 1e-10)), 3)


def validation(model, rainy: torch.Tensor, clean: torch.Tensor, moving: torch.Tensor, batch: int = 4) -> dict:
    """train.validate's figures and the moving pixels' PSNR, from one pass."""
    model.eval()
    preds = torch.cat([model.derain(rainy[i:i + batch]) for i in range(0, len(rainy), batch)])
    model.train()
    return {"psnr": round(psnr_y(preds, clean), 3), "l1": round(float(F.l1_loss(preds, clean)), 5),
            "psnrMoving": psnr_y_moving(preds, clean, moving)}


def loss_name(args: argparse.Namespace) -> str:
    name = f"l1 weighted 1 + {args.moving_weight} on moving pixels" if args.moving_weight else "l1"
    return name + (f" + {args.edge_loss} x gradient l1" if args.edge_loss else "")


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    os.makedirs(args.out, exist_ok=True)
    last = os.path.join(args.out, "last.pt")
    if not 0 <= args.singles < 1:
        raise SystemExit(f"error: --singles is a share from 0 to 1 (got {args.singles})")
    bank = StreakBank(args.streaks) if args.streaks else None
    data = VideoTrainingData(args.frames, args.crop, args.cdnet, args.video, args.clean, args.pairs, bank, cdnet_range=args.cdnet_frames, dry=args.dry, singles=args.singles)
    val = tuple(t.to(dev) for t in video_validation_set(data, args.cdnet, cdnet_range=args.cdnet_val))

    gen, ckpt, init = torch.Generator().manual_seed(args.seed), None, None
    if os.path.exists(last):
        model, ckpt = load_checkpoint(last)
        gen.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        print(f"resuming from {last} at step {ckpt['step']}", file=sys.stderr)
    elif args.init:
        model, init = load_checkpoint(args.init)
        if model.cfg.frames == 1 and args.frames > 1:
            model = with_frames(model, args.frames)
        print(f"starting from the weights of {args.init} (step {init['step']}, now {model.cfg.frames} frames)", file=sys.stderr)
    else:
        model = build(args.preset, frames=args.frames)
    if model.cfg.frames != args.frames:
        raise SystemExit(f"error: the checkpoint takes {model.cfg.frames} frames, --frames says {args.frames}")
    model.to(dev).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    if ckpt:
        opt.load_state_dict(ckpt["optimizer"])
    start = ckpt["step"] if ckpt else 0
    wall = ckpt.get("wall_seconds", 0.0) if ckpt else 0.0
    history = ckpt.get("history", []) if ckpt else []
    training = {
        "command": "/usr/bin/python3 -m models.fclip_unet.train_video " + " ".join(sys.argv[1:] if argv is None else argv),
        "steps": args.steps, "batch": args.batch, "crop": args.crop, "lr": args.lr, "frames": args.frames,
        "loss": loss_name(args), "dry": args.dry, "singles": args.singles,
        "seed": args.seed, "data": data.counts, "device": str(dev),
    }
    if ckpt and ckpt.get("training", {}).get("init"):
        training["init"] = ckpt["training"]["init"]
    elif init:
        training["init"] = {"checkpoint": args.init, "training": init.get("training")}
    if not history:
        history.append({"step": 0, **validation(model, *val)})
        print(f"step 0: validation {history[-1]}", file=sys.stderr)

    def save(step: int) -> None:
        save_checkpoint(last, model, "temporal", step=step, optimizer=opt.state_dict(), generator=gen.get_state(),
                        torch_rng=torch.get_rng_state(), wall_seconds=wall, history=history,
                        training={**training, "stepsDone": step, "wallSeconds": round(wall)}, encoder_frozen=model.encoder_frozen,
                        provenance=f"trained by this project with models/fclip_unet/train_video.py ({step} steps)")

    t0, step = time.time(), start
    deadline = time.time() + args.minutes * 60 if args.minutes else None
    with open(os.path.join(args.out, "log.jsonl"), "a") as log:
        while step < args.steps:
            rainy, clean, moving = (t.to(dev) for t in data.batch(args.batch, gen))
            for g in opt.param_groups:
                g["lr"] = lr_at(step, args.steps, args.lr, warmup=100)
            out = model(rainy)
            pred = rainy[:, :3] - out if model.cfg.output == "residual" else out
            loss = moving_weighted_l1(pred, clean, moving, args.moving_weight) if args.moving_weight else F.l1_loss(pred, clean)
            if args.edge_loss:
                loss = loss + args.edge_loss * gradient_l1(pred, clean)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            done = step >= args.steps or step == args.stop_at or (deadline is not None and time.time() >= deadline)
            if step % args.val_every == 0 or done:
                wall_now = wall + time.time() - t0
                history.append({"step": step, **validation(model, *val), "loss": round(loss.item(), 5), "wallSeconds": round(wall_now)})
                log.write(json.dumps(history[-1]) + "\n")
                log.flush()
                wall, t0 = wall_now, time.time()
                save(step)
                print(f"step {step}: validation {history[-1]}", file=sys.stderr, flush=True)
            if done:
                break
    print(f"done: step {step}, validation PSNR {history[0]['psnr']} -> {history[-1]['psnr']} dB; checkpoint {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
