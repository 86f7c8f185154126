import os
import tempfile
import unittest

import torch
from torchvision.io import write_png

from models.fclip_unet import train, train_video
from models.fclip_unet.camera_motion import offsets, window
from models.fclip_unet.checkpoint import load_checkpoint
from models.fclip_unet.model import build, with_frames
from models.fclip_unet.video_data import VideoTrainingData, video_validation_set


def _frames(folder: str, n: int, h: int = 120, w: int = 160) -> None:
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(n)
    base = (torch.rand(3, h, w, generator=g) * 255).to(torch.uint8)
    for i in range(n):
        write_png(base.roll(i, -1), os.path.join(folder, f"in{i + 1:06d}.png"))


class TemporalModelTest(unittest.TestCase):
    def test_with_frames_starts_as_the_single_frame_model(self):
        single = build("fclip-unet-lite2").eval()
        for p in single.parameters():  # trained-looking weights, not the zero-init head
            torch.nn.init.normal_(p, std=0.05)
        five = with_frames(single, 5).eval()
        self.assertEqual(five.cfg.in_channels, 60)
        x = torch.rand(1, 3, 64, 96)
        past = torch.rand(1, 12, 64, 96)
        with torch.no_grad():
            torch.testing.assert_close(five(torch.cat([x, past], 1)), single(x), atol=1e-5, rtol=0)
            # and the past is read once trained: a change of the zeroed weights changes the output
            five.visual.conv1.weight[:, 12:].normal_(std=1.0)
            self.assertGreater(float((five(torch.cat([x, past], 1)) - single(x)).abs().max()), 1e-4)
        self.assertEqual(tuple(five.derain(torch.cat([x, past], 1)).shape), (1, 3, 64, 96))

    def test_camera_motion_pans_at_its_speed_within_the_margin(self):
        moves = offsets(100, "pan", 2.0, 2.0, 24)
        steps = (moves[1:] - moves[:-1]).norm(dim=1)
        self.assertLess(abs(float(steps.median()) - 2.0 * (1 + 0.35 ** 2) ** 0.5), 0.1)
        self.assertLessEqual(float(moves.abs().max()), 23)
        img = torch.rand(3, 100, 120)
        self.assertEqual(tuple(window(img, 0.5, -3.25, 10).shape), (3, 80, 100))
        torch.testing.assert_close(window(img, 0.0, 0.0, 10), img[:, 10:90, 10:110])


class VideoDataTest(unittest.TestCase):
    def test_dry_sequences_are_their_own_target_and_validation_stays_rainy(self):
        with tempfile.TemporaryDirectory() as tmp:
            cdnet = os.path.join(tmp, "input")
            _frames(cdnet, 12)
            data = VideoTrainingData(3, 64, cdnet, [], [], [], None, cdnet_range=(1, 8), pool=2, singles=0.0, cut=0.0, dry=1.0)
            rainy, clean, _ = data.sample(torch.Generator().manual_seed(0))
            torch.testing.assert_close(rainy[:3], clean)
            vr, vc, _ = video_validation_set(data, cdnet, n=2, cdnet_range=(9, 12))
            self.assertGreater(float((vr[:, :3] - vc).abs().mean()), 0.01)
            self.assertEqual(data.dry, 1.0)

    def test_the_moving_mask_covers_what_changed_and_the_weighted_loss_counts_it_more(self):
        clip = torch.zeros(3, 3, 40, 40)
        clip[-1, :, 10:14, 20:24] = 1  # an object appears in the current frame
        m = VideoTrainingData.moving(clip)
        self.assertEqual(float(m[0, 12, 22]), 1.0)
        self.assertEqual(float(m[0, 12, 27]), 1.0)  # grown around it
        self.assertEqual(float(m[0, 30, 5]), 0.0)
        clean = torch.zeros(1, 3, 40, 40)
        err_moving, err_still = clean.clone(), clean.clone()
        err_moving[..., 10:14, 20:24] = 0.5
        err_still[..., 30:34, 0:4] = 0.5
        plain = train_video.moving_weighted_l1(err_still, clean, m[None], 0.0)
        torch.testing.assert_close(plain, torch.nn.functional.l1_loss(err_still, clean))
        self.assertGreater(float(train_video.moving_weighted_l1(err_moving, clean, m[None], 4.0)),
                           2 * float(train_video.moving_weighted_l1(err_still, clean, m[None], 4.0)))
        self.assertLess(train_video.psnr_y_moving(err_moving, clean, m[None]), train_video.psnr_y_moving(err_still, clean, m[None]))

    def test_the_gradient_loss_pays_for_blurred_texture(self):
        img = torch.rand(1, 3, 32, 32)
        blurred = torch.nn.functional.avg_pool2d(img, 3, 1, 1, count_include_pad=False)
        self.assertEqual(float(train.gradient_l1(img, img)), 0.0)
        self.assertGreater(float(train.gradient_l1(blurred, img)), 0.1)

    def test_samples_stack_current_first_and_train_a_few_steps(self):
        with tempfile.TemporaryDirectory() as tmp:
            cdnet = os.path.join(tmp, "input")
            _frames(cdnet, 12)
            stills = os.path.join(tmp, "stills")
            _frames(stills, 4, 140, 150)
            data = VideoTrainingData(3, 64, cdnet, [], [stills], [], None, cdnet_range=(1, 8), val_every=4, pool=2)
            rainy, clean, moving = data.batch(4, torch.Generator().manual_seed(0))
            self.assertEqual(tuple(rainy.shape), (4, 9, 64, 64))
            self.assertEqual(tuple(clean.shape), (4, 3, 64, 64))
            self.assertEqual(tuple(moving.shape), (4, 1, 64, 64))
            self.assertTrue(0 <= float(rainy.min()) and float(rainy.max()) <= 1)
            # a single photograph is a first frame: every past frame is the current one
            data.singles = 1.0
            r, _, m = data.sample(torch.Generator().manual_seed(1))
            torch.testing.assert_close(r[3:6], r[:3])
            torch.testing.assert_close(r[6:9], r[:3])
            self.assertEqual(float(m.sum()), 0.0)
            vr, vc, vm = video_validation_set(data, cdnet, n=3, cdnet_range=(9, 12))
            self.assertEqual(tuple(vm.shape), (3, 1, 64, 64))
            self.assertEqual(tuple(vr.shape), (3, 9, 64, 64))
            # two steps from a single-frame checkpoint, widened to 3 frames, then resumed
            from models.fclip_unet.checkpoint import save_checkpoint

            init = os.path.join(tmp, "single.pt")
            save_checkpoint(init, build("fclip-unet-lite2"), "fclip-unet-lite2", step=7)
            out = os.path.join(tmp, "run")
            args = ["--init", init, "--frames", "3", "--cdnet", cdnet, "--clean", stills, "--out", out,
                    "--cdnet-frames", "1-8", "--cdnet-val", "9-12", "--steps", "2", "--batch", "2", "--crop", "64", "--val-every", "1", "--moving-weight", "3", "--singles", "0.5"]
            self.assertEqual(train_video.main(args), 0)
            model, ckpt = load_checkpoint(os.path.join(out, "last.pt"))
            self.assertEqual((model.cfg.frames, ckpt["step"]), (3, 2))
            self.assertEqual(ckpt["training"]["init"]["checkpoint"], init)
            self.assertEqual(ckpt["training"]["loss"], "l1 weighted 1 + 3.0 on moving pixels")
            self.assertIn("psnrMoving", ckpt["history"][-1])
            self.assertEqual(ckpt["training"]["singles"], 0.5)
            with self.assertRaises(SystemExit) as ctx:
                train_video.main(args[:-2] + ["--singles", "1.5"])
            self.assertIn("--singles", str(ctx.exception))
            self.assertEqual(train_video.main(args[:-6] + ["--steps", "3", "--batch", "2", "--crop", "64", "--val-every", "1"]), 0)
            self.assertEqual(load_checkpoint(os.path.join(out, "last.pt"))[1]["step"], 3)


if __name__ == "__main__":
    unittest.main()
