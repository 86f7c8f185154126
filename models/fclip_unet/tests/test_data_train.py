import json
import os
import tempfile
import unittest

import torch
from torchvision.io import write_png

from models.fclip_unet.data import TrainingData, add_rain, dense_layer, paired_files, validation_set
from models.fclip_unet import train


def write_images(folder, names, size=(96, 128), seed=0):
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    for n in names:
        img = (torch.rand(3, *size, generator=g) * 255).byte()
        write_png(img, os.path.join(folder, n))


class SyntheticRainTest(unittest.TestCase):
    def test_heavier_levels_change_the_image_more(self):
        clean = torch.full((1, 3, 128, 128), 0.3)
        change = []
        for level in (0.0, 0.5, 1.0):
            diffs = [float((add_rain(clean, torch.tensor([level]), torch.Generator().manual_seed(s)) - clean).abs().mean())
                     for s in range(6)]
            change.append(sum(diffs) / len(diffs))
        self.assertGreater(change[0], 0.001, "even light rain leaves streaks")
        self.assertLess(change[0], change[1])
        self.assertLess(change[1], change[2])

    def test_rain_brightens_and_stays_in_range(self):
        clean = torch.rand(2, 3, 64, 80)
        rainy = add_rain(clean, torch.tensor([0.3, 1.0]), torch.Generator().manual_seed(1))
        self.assertEqual(rainy.shape, clean.shape)
        self.assertGreaterEqual(float(rainy.min()), 0.0)
        self.assertLessEqual(float(rainy.max()), 1.0)
        self.assertGreater(float(rainy.mean()), float(clean.mean()))

    def test_same_seed_same_rain(self):
        clean = torch.rand(1, 3, 64, 64)
        a = add_rain(clean, torch.tensor([0.7]), torch.Generator().manual_seed(5))
        b = add_rain(clean, torch.tensor([0.7]), torch.Generator().manual_seed(5))
        self.assertTrue(torch.equal(a, b))


class DenseRainTest(unittest.TestCase):
    def test_dense_rain_covers_more_of_the_image_than_streaks(self):
        clean = torch.full((1, 3, 128, 128), 0.3)

        def touched(fraction):
            shares = []
            for s in range(6):
                rainy = add_rain(clean, torch.tensor([1.0]), torch.Generator().manual_seed(s), dense_fraction=fraction)
                shares.append(float(((rainy - clean).abs().amax(1) > 0.05).float().mean()))
            return sum(shares) / len(shares)

        dense, sparse = touched(1.0), touched(0.0)
        self.assertGreater(dense, 0.3, "a downpour leaves few pixels untouched")
        self.assertGreater(dense, sparse)

    def test_dense_streaks_run_along_their_angle(self):
        g = torch.Generator().manual_seed(0)
        vertical = dense_layer(96, 96, density=0.01, length=25, width=0.5, angle=0.0, gen=g)[0, 0]
        dy = (vertical[1:] - vertical[:-1]).abs().mean()
        dx = (vertical[:, 1:] - vertical[:, :-1]).abs().mean()
        self.assertGreater(float(vertical.max()), 0.3)
        self.assertLess(float(dy) * 3, float(dx), "vertical streaks change slowly down the image")
        turned = dense_layer(96, 96, density=0.01, length=25, width=0.5, angle=90.0, gen=torch.Generator().manual_seed(0))[0, 0]
        tdy = (turned[1:] - turned[:-1]).abs().mean()
        tdx = (turned[:, 1:] - turned[:, :-1]).abs().mean()
        self.assertLess(float(tdx) * 3, float(tdy), "turned by 90 degrees they run across")


class FoldersTest(unittest.TestCase):
    def test_mismatched_pair_names_are_an_error_naming_them(self):
        with tempfile.TemporaryDirectory() as d:
            write_images(os.path.join(d, "rain"), ["1.png", "2.png"])
            write_images(os.path.join(d, "norain"), ["1.png", "3.png"])
            with self.assertRaises(SystemExit) as ctx:
                paired_files(d)
        self.assertIn("2.png", str(ctx.exception))
        self.assertIn("3.png", str(ctx.exception))

    def test_validation_images_are_held_out_of_training(self):
        with tempfile.TemporaryDirectory() as d:
            names = [f"{i}.png" for i in range(1, 11)]
            write_images(os.path.join(d, "clean"), names)
            data = TrainingData([os.path.join(d, "clean")], [], crop=32, val_every=5)
            self.assertEqual(data.counts, {"clean": 8, "pairs": 0, "validation": 2})
            rainy, clean = data.batch(3, torch.Generator().manual_seed(0))
            self.assertEqual(tuple(rainy.shape), (3, 3, 32, 32))
            r1, c1 = validation_set(data.val_files, size=32)
            r2, _ = validation_set(data.val_files, size=32)
            self.assertTrue(torch.equal(r1, r2), "validation rain is fixed")


    def test_pairs_alone_hold_out_whole_pairs(self):
        with tempfile.TemporaryDirectory() as d:
            names = [f"{i}.png" for i in range(1, 9)]
            write_images(os.path.join(d, "rain"), names, seed=1)
            write_images(os.path.join(d, "norain"), names, seed=2)
            data = TrainingData([], [d], crop=32, val_every=4)
            self.assertEqual(data.counts, {"clean": 0, "pairs": 6, "validation": 2})
            self.assertEqual([os.path.basename(f) for f in data.val_files], ["1.png", "5.png"])


class TrainTest(unittest.TestCase):
    def test_trains_checkpoints_and_resumes(self):
        with tempfile.TemporaryDirectory() as d:
            write_images(os.path.join(d, "clean"), [f"{i}.png" for i in range(1, 7)], size=(64, 64))
            write_images(os.path.join(d, "pairs", "rain"), ["a.png", "b.png"], size=(64, 64), seed=1)
            write_images(os.path.join(d, "pairs", "norain"), ["a.png", "b.png"], size=(64, 64), seed=2)
            out = os.path.join(d, "run")
            args = ["--preset", "fclip-unet-lite", "--clean", os.path.join(d, "clean"), "--pairs", os.path.join(d, "pairs"),
                    "--out", out, "--steps", "4", "--batch", "2", "--crop", "32", "--val-every", "2", "--val-split", "3",
                    "--no-progress", "--threads", "1"]
            self.assertEqual(train.main(args + ["--stop-at", "2"]), 0)
            ckpt = torch.load(os.path.join(out, "last.pt"))
            self.assertEqual(ckpt["step"], 2)
            self.assertEqual(train.main(args), 0)
            ckpt = torch.load(os.path.join(out, "last.pt"))
            self.assertEqual(ckpt["step"], 4, "the second run resumed and finished the schedule")
            with open(os.path.join(out, "log.jsonl")) as f:
                steps = [json.loads(line)["step"] for line in f]
            self.assertEqual(steps, [2, 4])
            self.assertIn("models.fclip_unet.train", ckpt["training"]["command"])

            # fine-tuning: --init starts a new schedule from those weights
            tuned = os.path.join(d, "tuned")
            targs = [a if a != out else tuned for a in args] + ["--init", os.path.join(out, "last.pt")]
            self.assertEqual(train.main(targs + ["--stop-at", "2"]), 0)
            t = torch.load(os.path.join(tuned, "last.pt"))
            self.assertEqual(t["step"], 2, "a new schedule counts from 0")
            self.assertEqual(t["history"][0]["psnr"], ckpt["history"][-1]["psnr"],
                             "step 0 validates the weights it started from")
            self.assertEqual(t["training"]["init"]["checkpoint"], os.path.join(out, "last.pt"))
            self.assertEqual(train.main(targs), 0)
            t = torch.load(os.path.join(tuned, "last.pt"))
            self.assertEqual(t["step"], 4)
            self.assertIn("init", t["training"], "a resumed fine-tune keeps its origin")
            with self.assertRaises(SystemExit) as ctx:
                train.main([a if a != out else os.path.join(d, "x") for a in args] + ["--init", os.path.join(d, "none.pt")])
            self.assertIn("none.pt", str(ctx.exception))

    def test_dry_samples_are_their_own_target_and_the_options_reach_the_card(self):
        gen = torch.Generator().manual_seed(0)
        rainy, clean = torch.ones(64, 3, 4, 4), torch.zeros(64, 3, 4, 4)
        mixed = train.dry_out(rainy, clean, 0.5, gen)
        dry = int((mixed.flatten(1).amax(1) == 0).sum())
        self.assertTrue(10 < dry < 54, f"about half the samples are dry ({dry} of 64)")
        self.assertTrue(torch.equal(train.dry_out(rainy, clean, 0.0, gen), rainy))
        with tempfile.TemporaryDirectory() as d:
            write_images(os.path.join(d, "clean"), [f"{i}.png" for i in range(1, 7)], size=(64, 64))
            out = os.path.join(d, "run")
            args = ["--preset", "fclip-unet-lite", "--clean", os.path.join(d, "clean"), "--out", out, "--steps", "2",
                    "--batch", "2", "--crop", "32", "--val-every", "2", "--val-split", "3", "--no-progress",
                    "--threads", "1", "--dry", "0.3", "--edge-loss", "0.5"]
            self.assertEqual(train.main(args), 0)
            t = torch.load(os.path.join(out, "last.pt"))["training"]
            self.assertEqual((t["dry"], t["edgeLoss"]), (0.3, 0.5))
            with self.assertRaises(SystemExit) as ctx:
                train.main(args[:-4] + ["--dry", "1.5"])
            self.assertIn("--dry", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
