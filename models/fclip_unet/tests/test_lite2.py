import os
import tempfile
import unittest

import torch
from torchvision.io import write_png

from models.fclip_unet.data import StreakBank, add_rain
from models.fclip_unet.model import build
from models.fclip_unet.train import PerceptualLoss


class Lite2Test(unittest.TestCase):
    def test_unshuffle_stem_any_size_full_resolution_out(self):
        model = build("fclip-unet-lite2").eval()
        self.assertEqual(model.cfg.multiple, 32)
        for h, w in ((45, 70), (64, 96)):
            x = torch.rand(1, 3, h, w)
            with torch.no_grad():
                self.assertEqual(tuple(model(x).shape), (1, 3, h, w))

    def test_every_pixel_reaches_the_output(self):
        # space-to-depth keeps every pixel: a change in one pixel changes the output there
        model = build("fclip-unet-lite2").eval()
        for p in model.head.parameters():
            torch.nn.init.normal_(p, std=0.1)
        x = torch.rand(1, 3, 64, 64)
        y = x.clone()
        y[0, :, 33, 17] += 0.5
        with torch.no_grad():
            d = (model(y) - model(x)).abs().sum(1)[0]
        self.assertGreater(float(d[33, 17]), 0)

    def test_perceptual_loss_reads_the_unshuffled_input(self):
        model = build("fclip-unet-lite2")
        loss = PerceptualLoss(model)
        v = loss(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
        self.assertTrue(torch.isfinite(v))


class GargRainTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        gen = torch.Generator().manual_seed(0)
        for i in range(3):
            layer = torch.zeros(1, 80, 120, dtype=torch.uint8)
            cols = torch.randint(120, (25,), generator=gen)
            rows = torch.randint(60, (25,), generator=gen)
            for r, c in zip(rows.tolist(), cols.tolist()):
                layer[0, r:r + 18, c] = 200  # vertical streaks on black, as the rendered layers are
            write_png(layer, os.path.join(self.dir.name, f"{i}-4.png"))
        self.bank = StreakBank(self.dir.name)

    def tearDown(self):
        self.dir.cleanup()

    def test_layers_brighten_heavier_with_level_and_repeat_for_a_seed(self):
        clean = torch.full((2, 3, 96, 96), 0.3)
        level = torch.tensor([0.1, 1.0])
        a = add_rain(clean, level, torch.Generator().manual_seed(5), 0.6, self.bank, 1.0)
        b = add_rain(clean, level, torch.Generator().manual_seed(5), 0.6, self.bank, 1.0)
        torch.testing.assert_close(a, b)
        self.assertGreater(float((a - clean).clamp(min=0).mean()), 0.005)
        self.assertTrue(((a >= 0) & (a <= 1)).all())

    def test_no_bank_no_extra_draw(self):
        clean = torch.full((2, 3, 64, 64), 0.3)
        level = torch.tensor([0.5, 0.5])
        a = add_rain(clean, level, torch.Generator().manual_seed(3), 0.6)
        b = add_rain(clean, level, torch.Generator().manual_seed(3), 0.6, None, 0.45)
        torch.testing.assert_close(a, b)

    def test_an_empty_folder_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(SystemExit) as e:
                StreakBank(d)
            self.assertIn("no streak layers", str(e.exception))


if __name__ == "__main__":
    unittest.main()
