import os
import tempfile
import unittest

import onnx
import torch

from models.fclip_unet.export import export
from models.fclip_unet.fold import fold_input
from models.fclip_unet.model import build, with_frames
from models.fclip_unet.reference import randomised


class FoldTest(unittest.TestCase):
    def test_folded_stem_computes_the_same_residual(self):
        single = randomised("fclip-unet-lite2", seed=3)
        for model in (single, with_frames(single, 5).eval()):
            for p in model.visual.conv1.parameters():  # past-frame weights too, not with_frames' zeros
                torch.nn.init.normal_(p, std=0.1)
            folded = fold_input(model)
            self.assertIsNotNone(folded.folded)
            self.assertIsNone(model.folded, "the model itself is left as it was")
            for h, w in ((64, 96), (45, 70)):  # a multiple of 32, and one the model pads
                x = torch.rand(1, 3 * model.cfg.frames, h, w)
                with torch.no_grad():
                    want, got = model(x), folded(x)
                scale = float(want.abs().max())
                self.assertGreater(scale, 0.01)
                # float32 sums in another order: 1e-5 of the output's range
                self.assertLess(float((want - got).abs().max()), 1e-5 * max(scale, 1.0), (model.cfg.frames, h, w, scale))

    def test_export_has_no_transpose_of_the_input(self):
        model = build("fclip-unet-lite2").eval()
        with tempfile.TemporaryDirectory() as tmp:
            folded, plain = os.path.join(tmp, "folded.onnx"), os.path.join(tmp, "plain.onnx")
            export(model, folded)
            export(model, plain, fold=False)
            ops = lambda f: [n.op_type for n in onnx.load(f).graph.node]
            self.assertIn("Transpose", ops(plain))
            self.assertNotIn("Transpose", ops(folded))
            # the output's depth-to-space stays (onnxruntime runs it as one fast op)
            self.assertIn("DepthToSpace", ops(folded))

    def test_a_clip_stem_has_nothing_to_fold(self):
        with self.assertRaises(ValueError):
            fold_input(build("fclip-unet-lite"))


if __name__ == "__main__":
    unittest.main()
