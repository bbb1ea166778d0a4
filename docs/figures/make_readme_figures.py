"""Draw the README's two figures from what the notebooks write: one per paper.

Usage (from the repository root, after running both notebooks at full size there, see notebooks/README.md)::

    python docs/figures/make_readme_figures.py [--selfdeblur results/selfdeblur_walkthrough]
        [--reblur results/reblur_walkthrough] [--levin data/levin] [--out docs/figures]

* ``selfdeblur.png``: Levin et al.'s ``im1_kernel1``: the blurry input, SelfDeblur's latent image, the ground
  truth, and the estimated kernel beside the true one; PSNR after Levin's alignment (15 px crop, sub-pixel
  shifts), as ``selfdeblur evaluate`` scores it.
* ``reblur.png``: a held-out synthetic image: blurry input, M_D trained with L1 + reblurring loss, the same after
  test-time adaptation, the sharp image, and the blur kernel; PSNR against the sharp image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt
import torch

from deblur_core.image_io import read_image
from reblur.metrics import psnr
from selfdeblur.data import orient_true_kernel
from selfdeblur.kernel_io import read_kernel
from selfdeblur.levin_protocol import align_upto_shift, psnr_255


def _panel(axis, image: torch.Tensor, title: str) -> None:
    shown = image.detach().clamp(0, 1)
    if shown.shape[0] == 1:
        axis.imshow(shown[0], cmap="gray", vmin=0, vmax=1)
    else:
        axis.imshow(shown.permute(1, 2, 0))
    axis.set_title(title, fontsize=9)
    axis.axis("off")


def _kernels(axis, kernels: list[torch.Tensor], title: str) -> None:
    size = max(k.shape[-1] for k in kernels)
    padded = [torch.nn.functional.pad(k, [(size - k.shape[-1]) // 2] * 4) for k in kernels]
    gap = torch.zeros(size, 2)
    row = torch.cat([x for k in padded for x in (k / k.max(), gap)][:-1], dim=1)
    axis.imshow(row, cmap="gray", interpolation="nearest")
    axis.set_title(title, fontsize=9)
    axis.axis("off")


def selfdeblur_figure(results: Path, levin: Path, out: Path) -> Path:
    blurry = read_image(levin / "im1_kernel1_img.png")
    truth = read_image(levin / "gt" / "im1.png")
    true_kernel, _ = orient_true_kernel(blurry, truth, read_kernel(levin / "gt" / "kernel1.png"))
    latent = read_image(results / "blurry_deblurred.png")
    kernel = read_kernel(results / "blurry_kernel.npy")
    scores = {name: align_upto_shift(x[0].double(), truth[0].double()) for name, x in (("in", blurry), ("out", latent))}
    figure, axes = plt.subplots(1, 4, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1, 1, 1, 0.9]})
    _panel(axes[0], blurry, f"blurry input: {psnr_255(scores['in'].image, scores['in'].truth):.2f} dB")
    _panel(axes[1], latent, f"SelfDeblur (ours): {psnr_255(scores['out'].image, scores['out'].truth):.2f} dB")
    _panel(axes[2], truth, "ground truth")
    _kernels(axes[3], [kernel, true_kernel], "kernel: estimated | true")
    figure.suptitle("SelfDeblur (Ren et al., CVPR 2020) on Levin et al.'s im1_kernel1, no training data", fontsize=10)
    return _save(figure, out / "selfdeblur.png")


def reblur_figure(results: Path, out: Path) -> Path:
    images = {name: read_image(results / f"{name}.png") for name in ("blurry", "M_D", "adapted", "sharp")}
    kernel = torch.load(results / "kernel.pt", weights_only=True)
    sharp = images["sharp"][None]
    labels = {"blurry": "blurry input", "M_D": "M_D, L1 + reblurring loss", "adapted": "after test-time adaptation"}
    figure, axes = plt.subplots(1, 5, figsize=(14, 3.2), gridspec_kw={"width_ratios": [1, 1, 1, 1, 0.5]})
    for axis, (name, label) in zip(axes, labels.items()):
        _panel(axis, images[name], f"{label}: {psnr(images[name][None], sharp).item():.2f} dB")
    _panel(axes[3], images["sharp"], "sharp")
    _kernels(axes[4], [kernel], "blur kernel")
    figure.suptitle(
        "Clean Images are Hard to Reblur (Nah et al., ICLR 2022): a held-out synthetic image, small U-Net on a CPU",
        fontsize=10,
    )
    return _save(figure, out / "reblur.png")


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path}")
    return path


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--selfdeblur", type=Path, default=Path("results/selfdeblur_walkthrough"))
    parser.add_argument("--reblur", type=Path, default=Path("results/reblur_walkthrough"))
    parser.add_argument("--levin", type=Path, default=Path("data/levin"))
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    args = parser.parse_args(argv)
    return [selfdeblur_figure(args.selfdeblur, args.levin, args.out), reblur_figure(args.reblur, args.out)]


if __name__ == "__main__":
    main()
