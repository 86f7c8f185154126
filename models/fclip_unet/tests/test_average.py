import os
import tempfile
import unittest

import torch

from models.fclip_unet.average import average
from models.fclip_unet.checkpoint import load_checkpoint, save_checkpoint
from models.fclip_unet.model import build


class AverageTest(unittest.TestCase):
    def test_the_mean_of_two_checkpoints_loads_and_names_its_sources(self):
        a = build("fclip-unet-lite2")
        b = build("fclip-unet-lite2")
        with torch.no_grad():
            for p in b.parameters():
                p.add_(0.5)
        with tempfile.TemporaryDirectory() as d:
            pa, pb, out = (os.path.join(d, n) for n in ("a.pt", "b.pt", "mean.pt"))
            save_checkpoint(pa, a, "fclip-unet-lite2", step=3)
            save_checkpoint(pb, b, "fclip-unet-lite2", step=9)
            average([pa, pb], out, [0.25, 0.75])
            back, meta = load_checkpoint(out)
            self.assertEqual([s["step"] for s in meta["averaged"]], [3, 9])
            self.assertIn("0.75 x", meta["provenance"])
            for (name, x), y, z in zip(a.state_dict().items(), b.state_dict().values(), back.state_dict().values()):
                if x.is_floating_point():
                    torch.testing.assert_close(z, 0.25 * x + 0.75 * y, atol=3e-3, rtol=3e-3, msg=name)

    def test_other_architectures_and_bad_weights_are_refused(self):
        with tempfile.TemporaryDirectory() as d:
            pa, pb = os.path.join(d, "a.pt"), os.path.join(d, "b.pt")
            save_checkpoint(pa, build("fclip-unet-lite2"), "fclip-unet-lite2")
            save_checkpoint(pb, build("fclip-unet-lite"), "fclip-unet-lite")
            with self.assertRaisesRegex(SystemExit, "not the architecture"):
                average([pa, pb], os.path.join(d, "m.pt"))
            with self.assertRaisesRegex(SystemExit, "summing to 1"):
                average([pa, pa], os.path.join(d, "m.pt"), [0.5, 0.6])
            with self.assertRaisesRegex(SystemExit, "two checkpoints"):
                average([pa], os.path.join(d, "m.pt"))


if __name__ == "__main__":
    unittest.main()
