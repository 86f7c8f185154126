import os
import tempfile
import unittest

import torch

from models.fclip_unet.checkpoint import load_checkpoint, save_checkpoint
from models.fclip_unet.model import build
from models.fclip_unet.slim import slim


class SlimTest(unittest.TestCase):
    def test_fp16_weights_load_back_and_keep_the_training_record(self):
        model = build("fclip-unet-lite2")
        with tempfile.TemporaryDirectory() as d:
            full, small = os.path.join(d, "last.pt"), os.path.join(d, "small.pt")
            save_checkpoint(full, model, "fclip-unet-lite2", step=7, optimizer={"state": {}}, training={"command": "x"},
                            perceptual=model.visual.state_dict())
            slim(full, small)
            self.assertLess(os.path.getsize(small), os.path.getsize(full))
            back, meta = load_checkpoint(small)
            self.assertEqual(meta["step"], 7)
            self.assertEqual(meta["training"], {"command": "x"})
            self.assertNotIn("optimizer", meta)
            self.assertEqual(back.cfg.stem, "unshuffle")
            for (name, a), b in zip(model.state_dict().items(), back.state_dict().values()):
                if a.is_floating_point():
                    self.assertEqual(b.dtype, torch.float32, name)
                    torch.testing.assert_close(b, a, atol=2e-3, rtol=2e-3)


    def test_perceptual_features_of_a_run_from_scratch_are_kept_as_its_seed(self):
        from models.fclip_unet.slim import rebuilt_perceptual

        torch.manual_seed(3)
        model = build("fclip-unet-lite2")  # as train.py: seed, then build; the loss keeps this encoder
        start = {k: v.clone() for k, v in model.visual.state_dict().items()}
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)  # trained since
        with tempfile.TemporaryDirectory() as d:
            full, small = os.path.join(d, "last.pt"), os.path.join(d, "small.pt")
            save_checkpoint(full, model, "fclip-unet-lite2", step=9, training={"seed": 3}, perceptual=start)
            slim(full, small)
            meta = torch.load(small, map_location="cpu")
            self.assertIsNone(meta["perceptual"])
            self.assertEqual(meta["perceptual_seed"], 3)
            again = rebuilt_perceptual(meta["preset"], 3, meta["config"])
            for k, v in start.items():
                self.assertTrue(torch.equal(again[k], v), k)


if __name__ == "__main__":
    unittest.main()
