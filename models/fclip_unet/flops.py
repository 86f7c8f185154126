"""Multiply-accumulate counts of convolutions (the conventional FLOP measure of the papers:
1 MAC = 2 FLOPs) by forward hooks; elementwise ops are left out, as the papers do."""
from __future__ import annotations

import torch
import torch.nn as nn


def conv_macs(module: nn.Module, x: torch.Tensor) -> int:
    total = 0

    def hook(m: nn.Conv2d, _inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1]
        total += out.numel() // out.shape[0] * (m.in_channels // m.groups) * k

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in handles:
            h.remove()
    return total
