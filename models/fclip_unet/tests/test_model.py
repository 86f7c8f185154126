import copy
import unittest

import torch
import torch.nn.functional as F

from models.fclip_unet.model import PAPER_SIGMAS, build
from models.fclip_unet.reference import randomised


class ShapeTest(unittest.TestCase):
    def test_odd_sizes_come_back_at_their_size(self):
        for preset, multiple in (("fclip-unet", 32), ("fclip-unet-lite", 16)):
            model = build(preset).eval()
            self.assertEqual(model.cfg.multiple, multiple)
            for h, w in ((37, 53), (33, 65), (64, 96)):
                with torch.no_grad():
                    y = model(torch.rand(1, 3, h, w))
                self.assertEqual(tuple(y.shape), (1, 3, h, w), f"{preset} at {h}x{w}")

    def test_padding_does_not_change_the_content_of_a_multiple(self):
        # the padded region is cropped away: a multiple-sized input needs no padding at all
        model = randomised("fclip-unet-lite")
        x = torch.rand(1, 3, 48, 64)
        with torch.no_grad():
            y = model(x)
            y2 = model(F.pad(x, (0, 0, 0, 0)))
        self.assertTrue(torch.equal(y, y2))

    def test_encoder_feature_widths_follow_clip_rn50(self):
        model = build("fclip-unet").eval()
        with torch.no_grad():
            feats = model.visual(torch.rand(1, 3, 64, 64))
        self.assertEqual([f.shape[1] for f in feats], [32, 256, 512, 1024, 2048])
        self.assertEqual([f.shape[-1] for f in feats], [32, 16, 8, 4, 2])


class FrozenEncoderTest(unittest.TestCase):
    def test_a_training_step_leaves_the_frozen_encoder_unchanged(self):
        torch.manual_seed(0)
        model = build("fclip-unet-lite")
        model.freeze_encoder()
        model.train()
        self.assertFalse(model.visual.training, "batch norms of a frozen encoder stay in eval mode")
        before = copy.deepcopy(model.state_dict())
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        x, target = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
        loss = F.l1_loss(x - model(x), target)
        loss.backward()
        opt.step()
        after = model.state_dict()
        enc = [k for k in before if k.startswith("visual.")]
        dec = [k for k in before if not k.startswith("visual.") and before[k].is_floating_point()]
        self.assertTrue(enc and dec)
        for k in enc:  # weights and batch-norm statistics alike
            self.assertTrue(torch.equal(before[k], after[k]), k)
        self.assertTrue(any(not torch.equal(before[k], after[k]) for k in dec), "the decoder trains")
        self.assertFalse(any(p.requires_grad for p in model.visual.parameters()))


class LdfpsTest(unittest.TestCase):
    def test_perturbation_in_training_only(self):
        model = randomised("fclip-unet-lite")
        x = torch.rand(1, 3, 32, 32)
        model.train()
        with torch.no_grad():
            a, b = model(x), model(x)
        self.assertFalse(torch.equal(a, b), "training adds noise to the skips")
        model.eval()
        with torch.no_grad():
            c, d = model(x), model(x)
        self.assertTrue(torch.equal(c, d), "inference is deterministic")

    def test_sigma_grows_with_depth_as_in_the_paper(self):
        model = build("fclip-unet").train()
        feats = [torch.zeros(1, 8, 64, 64) for _ in range(5)]  # half, layer1..layer4
        torch.manual_seed(0)
        out = model.perturb(feats)
        stds = [float(t.std()) for t in out]
        self.assertEqual(stds[0], 0.0, "the stem's map is left clean")
        self.assertEqual(len(stds[1:]), len(PAPER_SIGMAS))
        for got, want in zip(stds[1:], PAPER_SIGMAS):
            self.assertAlmostEqual(got, want, delta=want * 0.05)
        self.assertEqual(stds[1:], sorted(stds[1:]))


if __name__ == "__main__":
    unittest.main()
