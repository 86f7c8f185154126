import io
import math
import os
import tempfile
import unittest
from unittest import mock

import torch
import torch.nn.functional as F
from torchvision.io import read_image, write_png

from models.fclip_unet import data, video_rain
from models.fclip_unet.video_rain import LEVELS, VideoRain

STREAKS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "data", "rain-streaks-garg-nayar")


def clean_frames(n=6, h=48, w=64):
    g = torch.Generator().manual_seed(0)
    base = (torch.rand(3, h, w, generator=g) * 160 + 40).to(torch.uint8)
    return [base.clone() for _ in range(n)]


def psnr(a, b):
    mse = ((a.float() - b.float()) ** 2).mean().item()
    return 10 * math.log10(255 ** 2 / mse)


class VideoRainTest(unittest.TestCase):
    def test_same_seed_same_rain_and_it_moves(self):
        frames = clean_frames()
        a = [VideoRain(48, 64, 1.0, 5, None) for _ in range(2)]
        out = [[r.apply(f) for f in frames] for r in a]
        for x, y in zip(*out):
            self.assertTrue(torch.equal(x, y))
        self.assertFalse(torch.equal(out[0][0], out[0][1]), "the rain changes from frame to frame")
        other = VideoRain(48, 64, 1.0, 6, None).apply(frames[0])
        self.assertFalse(torch.equal(other, out[0][0]))

    def test_fast_filters_match_the_kit(self):
        a = data.dense_layer(40, 56, 0.004, 27, 0.8, 12.0, torch.Generator().manual_seed(4))
        b = video_rain.dense_layer(40, 56, 0.004, 27, 0.8, 12.0, torch.Generator().manual_seed(4))
        self.assertLess((a - b).abs().max().item(), 1e-4)
        self.assertGreater(a.max().item(), 0.3)
        x = torch.rand(1, 1, 30, 40, generator=torch.Generator().manual_seed(5))
        k = data._gauss1d(1.7)
        want = F.conv2d(F.conv2d(x, k.view(1, 1, -1, 1), padding=(k.numel() // 2, 0)), k.view(1, 1, 1, -1), padding=(0, k.numel() // 2))
        self.assertLess((video_rain._blur(x, 1.7) - want).abs().max().item(), 1e-5)

    def test_levels(self):
        f = clean_frames(1)[0]
        self.assertTrue(torch.equal(VideoRain(48, 64, LEVELS["none"], 1, None).apply(f), f))
        p = {lv: sum(psnr(VideoRain(48, 64, LEVELS[lv], s, None).apply(f), f) for s in range(3)) / 3 for lv in ("light", "heavy")}
        self.assertGreater(p["light"], p["heavy"] + 3, p)
        self.assertLess(p["heavy"], 20, p)

    def test_far_layer_falls(self):
        r = VideoRain(48, 64, 0.3, 2, None)
        layer, _, _ = r.far[0]
        w0 = layer.window().clone()
        layer.advance()
        w1 = layer.window()
        s = layer.speed
        self.assertTrue(torch.equal(w1[..., s:, :], w0[..., :-s, :]), "the strip moved down by its speed")

    @unittest.skipUnless(os.path.isdir(STREAKS), "no Garg-Nayar streak layers")
    def test_pipe_and_folder_give_the_same_frames(self):
        frames = clean_frames(4)
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "clean")
            os.makedirs(src)
            for i, f in enumerate(frames):
                write_png(f, os.path.join(src, f"{i:03d}.png"))
            with mock.patch("sys.stdout", new=io.StringIO()):
                video_rain.main(["--input", src, "--out", os.path.join(d, "a"), "--rain", "medium", "--seed", "3", "--streaks", STREAKS])
            raw = b"".join(f.permute(1, 2, 0).contiguous().numpy().tobytes() for f in frames)
            with mock.patch("sys.stdin", new=io.TextIOWrapper(io.BytesIO(raw))), mock.patch("sys.stdout", new=io.StringIO()):
                video_rain.main(["--raw", "64x48", "--out", os.path.join(d, "b"), "--rain", "medium", "--seed", "3", "--streaks", STREAKS])
            names = sorted(os.listdir(os.path.join(d, "a")))
            self.assertEqual(names, [f"{i:06d}.png" for i in range(1, 5)])
            for n in names:
                self.assertTrue(torch.equal(read_image(os.path.join(d, "a", n)), read_image(os.path.join(d, "b", n))))


if __name__ == "__main__":
    unittest.main()
