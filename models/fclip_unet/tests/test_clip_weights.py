import os
import tempfile
import unittest
from collections import OrderedDict

import torch

from models.fclip_unet.clip_weights import load_clip_weights
from models.fclip_unet.model import build


def bn(prefix, c, sd):
    sd[f"{prefix}.weight"] = torch.rand(c)
    sd[f"{prefix}.bias"] = torch.rand(c)
    sd[f"{prefix}.running_mean"] = torch.rand(c)
    sd[f"{prefix}.running_var"] = torch.rand(c) + 0.5
    sd[f"{prefix}.num_batches_tracked"] = torch.tensor(0)


def openai_rn50_state_dict():
    """The key layout of OpenAI's RN50.pt, written out from its published architecture
    (ModifiedResNet, layers 3-4-6-3, width 64, embed 1024; text tower abbreviated)."""
    sd = OrderedDict()
    sd["positional_embedding"] = torch.rand(77, 512)
    sd["text_projection"] = torch.rand(512, 1024)
    sd["logit_scale"] = torch.tensor(4.6)
    sd["token_embedding.weight"] = torch.rand(10, 512)
    sd["transformer.resblocks.0.attn.in_proj_weight"] = torch.rand(1536, 512)
    sd["ln_final.weight"] = torch.rand(512)
    sd["visual.conv1.weight"] = torch.rand(32, 3, 3, 3)
    bn("visual.bn1", 32, sd)
    sd["visual.conv2.weight"] = torch.rand(32, 32, 3, 3)
    bn("visual.bn2", 32, sd)
    sd["visual.conv3.weight"] = torch.rand(64, 32, 3, 3)
    bn("visual.bn3", 64, sd)
    inplanes = 64
    for li, (blocks, planes) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            p = f"visual.layer{li}.{b}"
            sd[f"{p}.conv1.weight"] = torch.rand(planes, inplanes, 1, 1)
            bn(f"{p}.bn1", planes, sd)
            sd[f"{p}.conv2.weight"] = torch.rand(planes, planes, 3, 3)
            bn(f"{p}.bn2", planes, sd)
            sd[f"{p}.conv3.weight"] = torch.rand(planes * 4, planes, 1, 1)
            bn(f"{p}.bn3", planes * 4, sd)
            if b == 0:
                sd[f"{p}.downsample.0.weight"] = torch.rand(planes * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * 4, sd)
            inplanes = planes * 4
    sd["visual.attnpool.positional_embedding"] = torch.rand(50, 2048)
    for n in ("k", "q", "v", "c"):
        sd[f"visual.attnpool.{n}_proj.weight"] = torch.rand(2048 if n != "c" else 1024, 2048)
        sd[f"visual.attnpool.{n}_proj.bias"] = torch.rand(2048 if n != "c" else 1024)
    return sd


class ClipWeightsTest(unittest.TestCase):
    def test_openai_layout_loads_one_to_one_and_freezes(self):
        sd = openai_rn50_state_dict()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "RN50-state.pt")
            torch.save(sd, path)
            model = build("fclip-unet")
            report = load_clip_weights(model, path)  # raises on any missing or unexpected key
        self.assertIn("frozen", report)
        enc = model.visual.state_dict()
        visual = {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.") and ".attnpool." not in k}
        self.assertEqual(set(enc), set(visual), "every encoder tensor has exactly one CLIP key")
        for k, v in visual.items():
            self.assertTrue(torch.equal(enc[k], v), k)
        self.assertFalse(any(p.requires_grad for p in model.visual.parameters()))

    def test_torchscript_archive_like_openai_ships(self):
        # OpenAI's RN50.pt is a TorchScript archive whose state dict has these keys
        class Clip(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.visual = build("fclip-unet").visual

            def forward(self, x):
                return self.visual(x)[-1]

        src = Clip()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "RN50.pt")
            torch.jit.trace(src.eval(), torch.rand(1, 3, 64, 64)).save(path)
            model = build("fclip-unet")
            load_clip_weights(model, path)
        self.assertTrue(torch.equal(model.visual.layer4[2].conv3.weight, src.visual.layer4[2].conv3.weight))

    def test_a_checkpoint_of_another_network_is_refused_by_name(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "other.pt")
            torch.save({"visual.conv1.weight": torch.rand(32, 3, 3, 3), "visual.head.weight": torch.rand(3)}, path)
            with self.assertRaises(SystemExit) as ctx:
                load_clip_weights(build("fclip-unet"), path)
        self.assertIn("missing", str(ctx.exception))
        self.assertIn("head.weight", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
