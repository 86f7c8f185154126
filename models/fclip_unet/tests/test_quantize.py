import json
import os
import shutil
import tempfile
import unittest

import numpy as np
import onnx
import torch
from onnx import TensorProto, numpy_helper
from torchvision.io import write_png

from models.fclip_unet import quantize
from models.fclip_unet.checkpoint import save_checkpoint
from models.fclip_unet.export import embed_card, export, make_card
from models.fclip_unet.model import with_frames
from models.fclip_unet.reference import randomised

HAVE_ORT_NODE = shutil.which("node") is not None and os.path.isdir(os.path.join(quantize.ROOT, "node_modules", "onnxruntime-node"))


def tiny_export(folder, frames=1, **kw):
    model = randomised("fclip-unet-lite2")
    if frames > 1:
        model = with_frames(model, frames)
        with torch.no_grad():  # the past's weights start at zero: make them count
            for p in model.parameters():
                p.add_(0.02 * torch.randn_like(p))
    path = os.path.join(folder, "tiny.onnx")
    export(model, path, **kw)
    embed_card(path, make_card(model, "tiny", path, {"precision": "fp32", "inferSize": [96, 64]}))
    return model, path


class QDQGraphTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.model, cls.path = tiny_export(cls.tmp, half_weights=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def quantized(self, ops="all"):
        m = quantize.to_fp32_weights(onnx.load(self.path))
        quantize.fold_scales(m)
        _, tensors, _ = quantize.plan(m, ops)
        return quantize.quantize_qdq(m, {t: (-3.0, 5.0) for t in tensors}, ops)

    def test_the_qdq_graph_is_valid_and_conv_weights_are_int8_per_channel(self):
        for ops in ("conv", "all"):
            q, info = self.quantized(ops)
            onnx.checker.check_model(q, full_check=True)
            g = q.graph
            inits = {i.name: i for i in g.initializer}
            producer = {o: n for n in g.node for o in n.output}
            convs = [n for n in g.node if n.op_type == "Conv"]
            self.assertEqual(len(convs), info["convs"])
            self.assertEqual(len(convs), sum(1 for n in self.model.modules() if isinstance(n, torch.nn.Conv2d)))
            for conv in convs:
                x, w, b = (producer[i] for i in conv.input)
                self.assertEqual([x.op_type, w.op_type, b.op_type], ["DequantizeLinear"] * 3, conv.name)
                self.assertEqual(inits.get(x.input[0]), None, "activations are quantized at run time")
                wq, ws, wz = (inits[i] for i in w.input)
                self.assertEqual(wq.data_type, TensorProto.INT8)
                self.assertEqual(wz.data_type, TensorProto.INT8)
                self.assertEqual(list(ws.dims), [wq.dims[0]], "one scale per output channel")
                self.assertEqual([a.i for a in w.attribute if a.name == "axis"], [0])
                self.assertTrue(np.all(numpy_helper.to_array(wz) == 0), "symmetric")
                self.assertLessEqual(int(np.abs(numpy_helper.to_array(wq).astype(np.int32)).max()), 127)
                self.assertEqual(inits[b.input[0]].data_type, TensorProto.INT32)
                # the Conv's output is quantized again (directly or after its ReLU)
                after = [n for n in g.node if conv.output[0] in n.input]
                if len(after) == 1 and after[0].op_type == "Relu":
                    after = [n for n in g.node if after[0].output[0] in n.input]
                self.assertIn("QuantizeLinear", [n.op_type for n in after], conv.name)
            # no float weight of a convolution is left behind (CLIP's [1,C,1,1] mean and std are)
            self.assertFalse(any(i.data_type == TensorProto.FLOAT and len(i.dims) == 4 and i.dims[0] > 1 for i in g.initializer))

    def test_layer_scales_fold_into_the_convolution(self):
        m = quantize.to_fp32_weights(onnx.load(self.path))
        muls = sum(n.op_type == "Mul" for n in m.graph.node)
        self.assertEqual(quantize.fold_scales(m), 4)  # the four ResBlocks of lite2
        self.assertEqual(sum(n.op_type == "Mul" for n in m.graph.node), muls - 4)
        onnx.checker.check_model(m)

    def test_a_float16_export_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, path = tiny_export(tmp, half=True)
            with self.assertRaises(SystemExit):
                quantize.to_fp32_weights(onnx.load(path))


@unittest.skipUnless(HAVE_ORT_NODE, "needs node and onnxruntime-node")
class QuantizeCommandTest(unittest.TestCase):
    def smooth_images(self, tmp):
        images = os.path.join(tmp, "clean")
        os.makedirs(images)
        g = torch.Generator().manual_seed(0)
        for i in range(3):
            # smooth images: random pixels would be nothing like a scene
            small = torch.rand(1, 3, 12, 16, generator=g)
            img = torch.nn.functional.interpolate(small, size=(96, 128), mode="bilinear", align_corners=False)[0]
            write_png((img * 255).byte(), os.path.join(images, f"{i}.png"))
        return images

    def test_a_temporal_model_calibrates_on_frames_of_a_still_scene_under_fresh_rain(self):
        with tempfile.TemporaryDirectory() as tmp:
            model, path = tiny_export(tmp, frames=3)
            ckpt = os.path.join(tmp, "tiny.pt")
            save_checkpoint(ckpt, model, "fclip-unet-lite2")
            out = os.path.join(tmp, "tiny-int8.onnx")
            quantize.main(["--onnx", path, "--checkpoint", ckpt, "--calib", self.smooth_images(tmp), "--out", out,
                           "--crops", "2", "--crop", "96x64", "--eval", "1"])
            card = json.loads({p.key: p.value for p in onnx.load(out).metadata_props}[quantize.CARD_KEY])
            self.assertEqual(card["frames"], 3)
            qz = card["quantization"]
            self.assertIn("fresh on each of 3 frames", qz["calibration"]["rain"])
            self.assertGreater(qz["quality"]["psnrInt8VsFp32"], 20)
            rainy, clean = quantize.calibration_crops(os.path.join(tmp, "clean"), 2, (64, 96), 0, frames=3)
            self.assertEqual(rainy.shape, (2, 9, 64, 96))
            self.assertEqual(clean.shape, (2, 3, 64, 96))
            # the same scene, different rain in each frame
            self.assertGreater(np.abs(rainy[:, :3] - rainy[:, 3:6]).max(), 0.05)

    def test_calibrates_through_onnxruntime_which_runs_qlinearconv_and_keeps_the_card(self):
        with tempfile.TemporaryDirectory() as tmp:
            model, path = tiny_export(tmp)
            ckpt = os.path.join(tmp, "tiny.pt")
            save_checkpoint(ckpt, model, "fclip-unet-lite2")
            images = self.smooth_images(tmp)
            out = os.path.join(tmp, "tiny-int8.onnx")
            quantize.main(["--onnx", path, "--checkpoint", ckpt, "--calib", images, "--out", out,
                           "--crops", "2", "--crop", "96x64", "--eval", "1"])
            q = onnx.load(out)
            onnx.checker.check_model(q)
            card = json.loads({p.key: p.value for p in q.metadata_props}[quantize.CARD_KEY])
            self.assertTrue(card["precision"].startswith("int8 QDQ"))
            self.assertEqual(card["name"], "tiny")
            self.assertEqual(card["inferSize"], [96, 64])
            self.assertEqual(card["onnx"], "tiny-int8.onnx")
            with open(os.path.join(tmp, "tiny-int8.card.json")) as f:
                self.assertEqual(json.load(f), card)
            qz = card["quantization"]
            convs = sum(1 for n in model.modules() if isinstance(n, torch.nn.Conv2d))
            self.assertEqual(qz["onnxruntimeOps"].get("QLinearConv"), convs, qz["onnxruntimeOps"])
            self.assertNotIn("Conv", qz["onnxruntimeOps"])
            # randomised weights are far from a trained network; the int8 result still follows fp32
            self.assertGreater(qz["quality"]["psnrInt8VsFp32"], 20)


if __name__ == "__main__":
    unittest.main()
