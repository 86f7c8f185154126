"""The space-to-depth stem folded into convolutions, for export: the same function, faster on a CPU.

A space-to-depth stem (`stem="unshuffle"`) rearranges the input image before its first
convolution and again for the decoder's last skip. onnxruntime runs that rearrangement as a
six-dimensional Transpose, which costs more than the convolutions it feeds: on two cores about
11 ms a 640x384 frame for 3 channels and 70 ms for a temporal model's 15, against 1 and 20 ms for
the equivalent convolutions on the image itself. Both readers of the rearranged input are linear,
so each becomes one convolution of the image:
- CLIP's first convolution (3x3, stride 2, padding 1, over the normalised space-to-depth channels)
  is a 6x6 convolution with stride 4 and padding 2 of the mean-subtracted image, its weights
  divided by CLIP's standard deviation (the padding zeros are the same zeros);
- the last skip (a 1x1 convolution of the space-to-depth channels) is a 2x2 convolution with
  stride 2 of the image.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from .model import FCLIPUNet


class InputFold(nn.Module):
    def __init__(self, conv1: nn.Conv2d, skip: nn.Conv2d, mean: torch.Tensor):
        super().__init__()
        self.stem = conv1
        self.skip = skip
        self.register_buffer("mean", mean, persistent=False)

    def conv1(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x - self.mean)


def _space_to_depth_kernel(w: torch.Tensor, channels: int) -> torch.Tensor:
    """Weights [o, 4c, kh, kw] over pixel_unshuffle(x, 2) as weights [o, c, 2kh, 2kw] over x:
    channel 4c + 2i + j of the rearranged input is pixel (2y + i, 2x + j) of channel c."""
    o, _, kh, kw = w.shape
    out = torch.zeros(o, channels, 2 * kh, 2 * kw, dtype=w.dtype)
    for i in range(2):
        for j in range(2):
            out[:, :, i::2, j::2] = w[:, i * 2 + j::4]
    return out


@torch.no_grad()
def fold_input(model: FCLIPUNet) -> FCLIPUNet:
    """A copy of `model` (eval mode) that computes the same residual without rearranging its input."""
    if model.cfg.stem != "unshuffle":
        raise ValueError("only a space-to-depth stem (stem='unshuffle') has an input rearrangement to fold")
    out = copy.deepcopy(model).eval()
    v = out.visual
    channels = 3 * out.cfg.frames
    # the normalisation repeats each image channel's mean and std over its four sub-pixels
    mean = v.mean.view(-1)[::4].clone()
    std = v.std.view(-1)[::4].clone()
    c1 = v.conv1
    stem = nn.Conv2d(channels, c1.out_channels, 6, stride=4, padding=2, bias=False)
    stem.weight.copy_(_space_to_depth_kernel(c1.weight, channels) / std.view(1, -1, 1, 1))
    last = out.stages[-1].skip
    skip = nn.Conv2d(channels, last.out_channels, 2, stride=2)
    skip.weight.copy_(_space_to_depth_kernel(last.weight, channels))
    skip.bias.copy_(last.bias)
    out.folded = InputFold(stem, skip, mean.view(1, -1, 1, 1))
    for p in out.parameters():
        p.requires_grad_(False)
    return out
