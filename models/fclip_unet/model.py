"""FCLIP-UNet: a U-Net whose encoder is the first stages of CLIP's ModifiedResNet-50.

Layout of the paper "Image Deraining Driven by CLIP Visual Embedding":
- encoder: CLIP RN50 stem + layer1..layer4 (module names follow OpenAI's `visual.*` keys so
  RN50 weights load one to one), frozen when CLIP weights are loaded;
- decoder: per scale, an UpDWBlock (upsample + depthwise block) in series with ConvNeXt-T
  blocks, fed by skip connections from the encoder;
- LDFPS: Gaussian noise on the skip features in training only, sigma growing with depth;
- output: the rain residual (input - clean) at full resolution.

`Config` sets width and depth, so the same code gives the paper's model and light variants.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# The paper's best LDFPS setting: sigma per skip level, shallow to deep.
PAPER_SIGMAS = (0.01, 0.03, 0.06, 0.1)


@dataclass
class Config:
    # encoder: CLIP RN50 is width 64, layers (3, 4, 6, 3); `stages` keeps the first N layers
    width: int = 64
    layers: Sequence[int] = (3, 4, 6, 3)
    stages: int = 4
    # decoder: channels and ConvNeXt blocks per scale, from the deepest used scale up to full
    # resolution (one entry per upsampling step: stages + 1 of them, since the stem is 1/4)
    dec_channels: Sequence[int] = (512, 256, 128, 64, 32)
    dec_depths: Sequence[int] = (2, 2, 2, 1, 1)
    sigmas: Sequence[float] = PAPER_SIGMAS
    output: str = "residual"
    # "clip": CLIP's stem on the RGB image; "unshuffle": a space-to-depth by 2 first, so the whole
    # U-Net runs on a quarter of the positions with every pixel in its 12 channels, and the head
    # returns 12 channels that depth-to-space puts back at full resolution (full-resolution
    # input at the cost of half-resolution inference, thin streaks kept)
    stem: str = "clip"
    # decoder blocks: "convnext" (7x7 depthwise, LayerNorm, GELU: the paper's) or "res" (two dense
    # 3x3 convolutions with ReLU, layer scale: what onnxruntime's CPU kernels run fastest)
    block: str = "convnext"
    # frames in: the current one, then frames-1 past ones (t-1, t-2, ...) stacked on the channels
    # (early fusion); the output is the current frame's. 1: a single-image model
    frames: int = 1

    def __post_init__(self) -> None:
        if self.stem not in ("clip", "unshuffle"):
            raise ValueError("stem must be clip or unshuffle")
        if self.block not in ("convnext", "res"):
            raise ValueError("block must be convnext or res")
        if not 1 <= self.frames <= 8:
            raise ValueError("frames must be 1..8")
        if not 1 <= self.stages <= 4:
            raise ValueError("stages must be 1..4")
        steps = self.stages + 1
        if len(self.dec_channels) != steps or len(self.dec_depths) != steps:
            raise ValueError(f"dec_channels and dec_depths need {steps} entries for {self.stages} stages")
        if len(self.sigmas) < self.stages:
            raise ValueError(f"sigmas need {self.stages} entries")
        self.layers = tuple(self.layers)
        self.dec_channels = tuple(self.dec_channels)
        self.dec_depths = tuple(self.dec_depths)
        self.sigmas = tuple(self.sigmas)

    @property
    def multiple(self) -> int:
        # stem 1/4, then each layer after the first halves; the unshuffle stem halves first
        return 4 * 2 ** (self.stages - 1) * (2 if self.stem == "unshuffle" else 1)

    @property
    def out_channels(self) -> int:
        """channels of one frame as the network sees it (after space-to-depth)"""
        return 12 if self.stem == "unshuffle" else 3

    @property
    def in_channels(self) -> int:
        return self.out_channels * self.frames

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    # the paper's model: the whole RN50 trunk up to layer4
    "fclip-unet": Config(),
    # CPU real time (chosen by measurement, ~5 GFLOP at 320x192): a half-width encoder to
    # layer3 with two blocks per layer, and a decoder that narrows fast, no ConvNeXt block at
    # the finest scale (its pixels are the most and its job is mostly the residual's edges)
    "fclip-unet-lite": Config(width=32, layers=(2, 2, 2, 2), stages=3,
                              dec_channels=(128, 96, 48, 16), dec_depths=(2, 2, 1, 0)),
    # v2, full resolution on a CPU: the lite network behind a space-to-depth stem (every pixel
    # seen, at the cost of the lite model at half resolution), dense residual blocks in the
    # decoder (chosen from the op table in the kit README), a wider last stage for 12 outputs
    "fclip-unet-lite2": Config(width=32, layers=(2, 2, 2, 2), stages=3, stem="unshuffle", block="res",
                               dec_channels=(128, 96, 64, 32), dec_depths=(3, 1, 0, 0)),
}


# ---------------------------------------------------------------- encoder (CLIP ModifiedResNet)
class Bottleneck(nn.Module):
    """CLIP's anti-aliased bottleneck: strides are average pools, after the 3x3 convolution."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu3 = nn.ReLU(inplace=True)
        self.downsample = None
        if stride > 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * self.expansion, 1, stride=1, bias=False)),
                ("1", nn.BatchNorm2d(planes * self.expansion)),
            ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.avgpool(out)
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu3(out + identity)


class ClipEncoder(nn.Module):
    """The stem and first `stages` layers of CLIP's ModifiedResNet; no attention pool.

    Takes RGB in [0,1] and applies CLIP's normalisation itself. Returns the features of every
    scale: the stem's half-resolution map, then layer1 (1/4) ... layerN.
    """

    def __init__(self, cfg: Config):
        super().__init__()
        w = cfg.width
        # space-to-depth puts channel c's 2x2 block at channels 4c..4c+3; frames follow each other
        rep = cfg.out_channels // 3
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).repeat_interleave(rep).repeat(cfg.frames).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).repeat_interleave(rep).repeat(cfg.frames).view(1, -1, 1, 1), persistent=False)
        self.conv1 = nn.Conv2d(cfg.in_channels, w // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w // 2)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(w // 2, w // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(w // 2)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(w // 2, w, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(w)
        self.relu3 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = w
        self.stages = cfg.stages
        for i in range(cfg.stages):
            setattr(self, f"layer{i + 1}", self._make_layer(w * 2 ** i, cfg.layers[i], stride=1 if i == 0 else 2))
        self.channels = [w // 2] + [w * 2 ** i * 4 for i in range(cfg.stages)]

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return self.trunk(self.conv1((x - self.mean) / self.std))

    def trunk(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Everything after the first convolution (an export folds the input's normalisation and
        space-to-depth into that convolution: fold.py)."""
        x = self.relu1(self.bn1(x))
        half = self.relu2(self.bn2(self.conv2(x)))
        x = self.avgpool(self.relu3(self.bn3(self.conv3(half))))
        feats = [half]
        for i in range(self.stages):
            x = getattr(self, f"layer{i + 1}")(x)
            feats.append(x)
        return feats


# ---------------------------------------------------------------- decoder
class ChannelNorm(nn.Module):
    """LayerNorm over channels of an NCHW map (ConvNeXt's channels-last LayerNorm, without the
    two transposes that would cost a copy each on CPU)."""

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + self.eps)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt-T block: 7x7 depthwise conv, LayerNorm, 4x inverted bottleneck with GELU,
    layer scale, residual."""

    def __init__(self, c: int, layer_scale: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = ChannelNorm(c)
        self.pwconv1 = nn.Conv2d(c, 4 * c, 1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(4 * c, c, 1)
        self.gamma = nn.Parameter(torch.full((1, c, 1, 1), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))
        return x + self.gamma * y


class ResBlock(nn.Module):
    """Two dense 3x3 convolutions with ReLU and a layer scale, residual: the block onnxruntime's
    CPU convolutions run nearest their peak (ReLU fuses into the convolution; no norm to run)."""

    def __init__(self, c: int, layer_scale: float = 1e-2):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.gamma = nn.Parameter(torch.full((1, c, 1, 1), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.conv2(self.act(self.conv1(x)))


class UpDWBlock(nn.Module):
    """Upsample x2, project channels, then a depthwise block that restores the detail the
    interpolation smeared (with `fast`, ReLU and no LayerNorm: cheaper on a CPU)."""

    def __init__(self, cin: int, cout: int, fast: bool = False):
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, 1)
        self.dwconv = nn.Conv2d(cout, cout, 3, padding=1, groups=cout)
        self.norm = nn.Identity() if fast else ChannelNorm(cout)
        self.pwconv = nn.Conv2d(cout, cout, 1)
        self.act = nn.ReLU() if fast else nn.GELU()

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        x = self.proj(F.interpolate(x, size=size, mode="bilinear", align_corners=False))
        return x + self.pwconv(self.act(self.norm(self.dwconv(x))))


class DecoderStage(nn.Module):
    def __init__(self, cin: int, cout: int, skip: int, depth: int, block: str = "convnext"):
        super().__init__()
        self.up = UpDWBlock(cin, cout, fast=block == "res")
        self.skip = nn.Conv2d(skip, cout, 1)
        make = ResBlock if block == "res" else ConvNeXtBlock
        self.blocks = nn.Sequential(*[make(cout) for _ in range(depth)])

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.join(x, self.skip(skip), skip.shape[-2:])

    def join(self, x: torch.Tensor, skip: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """x upsampled to `size` plus the skip as this stage's 1x1 convolution has made it."""
        return self.blocks(self.up(x, size) + skip)


# ---------------------------------------------------------------- the U-Net
class FCLIPUNet(nn.Module):
    def __init__(self, cfg: Optional[Config] = None):
        super().__init__()
        self.cfg = cfg or Config()
        c = self.cfg
        self.visual = ClipEncoder(c)
        enc = self.visual.channels  # [half, layer1 (1/4), ..., layerN]
        # skips into the decoder, deep to shallow: layer(N-1) .. layer1, stem half, input image
        skips = list(reversed(enc[:-1])) + [c.in_channels]
        cins = [enc[-1]] + list(c.dec_channels[:-1])
        self.stages = nn.ModuleList(
            DecoderStage(cin, cout, s, d, c.block) for cin, cout, s, d in zip(cins, c.dec_channels, skips, c.dec_depths)
        )
        self.head = nn.Conv2d(c.dec_channels[-1], c.out_channels, 3, padding=1)
        self.encoder_frozen = False
        # set on an export copy only (fold.py): the same function without a space-to-depth of the input
        self.folded: Optional[nn.Module] = None

    # -- encoder freezing (the paper's setting with CLIP weights)
    def freeze_encoder(self) -> None:
        self.encoder_frozen = True
        for p in self.visual.parameters():
            p.requires_grad_(False)
        self.visual.eval()

    def train(self, mode: bool = True) -> "FCLIPUNet":
        super().train(mode)
        if self.encoder_frozen:
            self.visual.eval()  # batch norms keep CLIP's statistics
        return self

    def perturb(self, feats: List[torch.Tensor]) -> List[torch.Tensor]:
        """LDFPS: layer-wise differentiated Gaussian perturbation of the encoder features that
        the decoder reads (layer1 .. layerN get sigmas[0..N-1], growing with depth); the stem's
        half-resolution map is left clean. Training only."""
        if not self.training:
            return feats
        out = list(feats)
        for i in range(1, len(feats)):
            sigma = self.cfg.sigmas[i - 1]
            out[i] = feats[i] + sigma * torch.randn_like(feats[i])
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.cfg.multiple
        ph, pw = (-h) % m, (-w) % m
        # reflect needs pad < size; replicate takes any pad (tiny inputs in tests)
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if (ph or pw) else x
        unshuffle = self.cfg.stem == "unshuffle"
        folded = self.folded
        if folded is not None:
            feats = self.visual.trunk(folded.conv1(xp))
        else:
            if unshuffle:
                xp = F.pixel_unshuffle(xp, 2)
            feats = self.perturb(self.visual(xp))
        y = feats[-1]
        for stage, skip in zip(self.stages[:-1], reversed(feats[:-1])):
            y = stage(y, skip)
        last = self.stages[-1]
        if folded is not None:
            y = last.join(y, folded.skip(xp), (xp.shape[-2] // 2, xp.shape[-1] // 2))
        else:
            y = last(y, xp)
        y = self.head(y)
        if unshuffle:
            y = F.pixel_shuffle(y, 2)
        if ph or pw:
            y = y[..., :h, :w]
        return y if self.cfg.output == "residual" else x[:, :3] - y

    @torch.no_grad()
    def derain(self, x: torch.Tensor) -> torch.Tensor:
        """Clean image from a rainy one (RGB [0,1]; with frames > 1, the current frame's, from
        the stacked frames)."""
        out = self(x)
        return (x[:, :3] - out if self.cfg.output == "residual" else out).clamp(0, 1)


@torch.no_grad()
def with_frames(single: FCLIPUNet, frames: int) -> FCLIPUNet:
    """A model for `frames` stacked frames that computes exactly what `single` does: the weights
    that read the past frames start at zero, so training starts at single-frame quality."""
    if single.cfg.frames != 1:
        raise ValueError("with_frames takes a single-frame model")
    model = FCLIPUNet(Config(**{**single.cfg.to_dict(), "frames": frames}))
    own = model.state_dict()
    for name, w in single.state_dict().items():
        if own[name].shape == w.shape:
            own[name].copy_(w)
        else:  # the convolutions that read the input: its first channels are the current frame
            own[name].zero_()
            own[name][:, :w.shape[1]].copy_(w)
    model.load_state_dict(own)
    if single.encoder_frozen:
        model.freeze_encoder()
    return model


def build(preset: str = "fclip-unet", **overrides) -> FCLIPUNet:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    base = PRESETS[preset].to_dict()
    base.update(overrides)
    return FCLIPUNet(Config(**base))


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
