"""Writes ``selfdeblur_walkthrough.ipynb`` (without outputs) from the cells below.

Edit the cells here and run ``python notebooks/make_selfdeblur_walkthrough.py``; the notebook is the generated
file, kept in the repository so that it can be opened and run directly.
"""

from __future__ import annotations

from pathlib import Path

from notebook_cells import write_notebook

CELLS: list[tuple[str, str]] = [
    (
        "md",
        r"""# SelfDeblur on one Levin image, end to end

Ren, Zhang, Wang, Hu and Zuo, *Neural Blind Deconvolution Using Deep Priors*, CVPR 2020. One blurry image
$y$ and nothing else: a deep-image-prior generator $G_x$ makes the latent sharp image, a fully connected
generator $G_k$ (softmax output) makes the blur kernel, and both are optimised jointly with Adam so that
$G_k \star G_x$ reproduces $y$ (MSE first, then $1 - \mathrm{SSIM}$).

This notebook

1. loads `im1_kernel1` of Levin et al.'s benchmark (blurry input, ground-truth image and kernel);
2. solves it with `selfdeblur.SelfDeblur` through a Lightning `Trainer`, keeping snapshots of the kernel
   and the latent image as they evolve;
3. shows the result beside the ground truth and scores it with Levin's protocol
   (`selfdeblur.levin_protocol`: 15 px crop, sub-pixel alignment, PSNR, SSIM, error ratio against the
   non-blind deconvolution with the true kernel), and adds SelfDeblur-Delta (the same non-blind
   deconvolution with the estimated kernel).

CI runs it with `NOTEBOOK_QUICK=1`: a 128x128 crop, a small $G_x$ and 150 steps (under a minute on 2 CPU
cores; the result is barely deblurred, read the numbers with that in mind). Without it: the whole
255x255 image, the paper's networks and 5000 steps (the outputs stored with this notebook; the time is
printed below). The result is also written to `results/selfdeblur_walkthrough/` (relative to the folder
the notebook runs in), which `docs/figures/make_readme_figures.py` draws the README's figure from.""",
    ),
    (
        "code",
        r"""import os

# CI sets NOTEBOOK_QUICK=1: the same steps, much smaller sizes.
QUICK = os.environ.get("NOTEBOOK_QUICK") == "1"

CROP = 128 if QUICK else None  # side of a centre crop of the 255x255 image (None: all of it)
STEPS = 150 if QUICK else 5000
MSE_STEPS = 100 if QUICK else 1000
SNAPSHOT_EVERY = 30 if QUICK else 500
# The paper's G_x (5 scales x 128 channels) and learning rates; QUICK: a small G_x, a faster G_k.
GENERATORS = {"image_channels": (32, 32, 32), "skip_channels": (8, 8, 8), "non_local_scales": 1} if QUICK else {}
LR_KERNEL = 1e-3 if QUICK else 1e-4
print(f"QUICK={QUICK}")""",
    ),
    (
        "md",
        r"""## 1. The image

The benchmark's files as the SelfDeblur authors ship them (`data/levin` in this repository). Kernel files
are stored in mixed orientations; `orient_true_kernel` puts each in convolution
orientation by checking which rotation reproduces the blurry image. Kernel 1 is estimated with size 17,
the authors' choice.""",
    ),
    (
        "code",
        r"""from pathlib import Path

import matplotlib.pyplot as plt

import selfdeblur
from selfdeblur.data import LEVIN_KERNEL_SIZES, orient_true_kernel
from deblur_core.crop import center_crop
from deblur_core.image_io import read_image, save_image
from selfdeblur.kernel_io import read_kernel

LEVIN = Path(selfdeblur.__file__).resolve().parents[1] / "data" / "levin"  # the repository's data/levin
assert LEVIN.is_dir(), f"the Levin data is expected at {LEVIN} (shipped with the repository)"
blurry_full = read_image(LEVIN / "im1_kernel1_img.png")  # (1, 255, 255) in [0, 1]
sharp_full = read_image(LEVIN / "gt" / "im1.png")
true_kernel, rotated = orient_true_kernel(blurry_full, sharp_full, read_kernel(LEVIN / "gt" / "kernel1.png"))


blurry, sharp = (center_crop(x, CROP, CROP) if CROP else x for x in (blurry_full, sharp_full))
KERNEL_SIZE = LEVIN_KERNEL_SIZES[1]
save_image("blurry.png", blurry)  # the solver reads files, as `selfdeblur fit` does
print(f"blurry {tuple(blurry.shape)}, true kernel {tuple(true_kernel.shape)} (rotated: {rotated}), "
      f"estimated kernel size {KERNEL_SIZE}")

fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for ax, (title, image) in zip(axes, [("blurry input", blurry[0]), ("ground truth", sharp[0]),
                                     ("true kernel", true_kernel)]):
    ax.imshow(image, cmap="gray")
    ax.set_title(title)
    ax.axis("off")
plt.show()""",
    ),
    (
        "md",
        r"""## 2. Solving it, with snapshots

`SelfDeblur` is a LightningModule whose "batches" are optimisation steps; `SelfDeblurDataModule` serves
them. A small callback keeps `model.snapshot()` (the current latent image and kernel, in convolution
orientation) every `SNAPSHOT_EVERY` steps, and the loss of every step.""",
    ),
    (
        "code",
        r"""import pytorch_lightning as pl

from selfdeblur import Generators, Optimization, SelfDeblur, SelfDeblurDataModule


class Snapshots(pl.Callback):
    def __init__(self, every):
        self.every, self.steps, self.losses = every, [], []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(trainer.callback_metrics["loss"]))
        if (batch.step + 1) % self.every == 0:
            (_, image, kernel), = module.snapshot()
            self.steps.append((batch.step + 1, image.cpu(), kernel.cpu()))


snapshots = Snapshots(SNAPSHOT_EVERY)
schedule = Optimization(steps=STEPS, mse_steps=MSE_STEPS, lr_kernel=LR_KERNEL,
                        milestones=(int(0.4 * STEPS), int(0.6 * STEPS), int(0.8 * STEPS)))
model = SelfDeblur(schedule, Generators(**GENERATORS), seed=0)
trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
                     enable_progress_bar=False, callbacks=[snapshots])
trainer.fit(model, SelfDeblurDataModule(images=["blurry.png"], kernel_size=KERNEL_SIZE))
result = model.finished[0]
print(f"{STEPS} steps in {result.seconds:.1f} s; final loss {result.final_loss:.5f}")
written = result.save(Path("results") / "selfdeblur_walkthrough")
print("written:", ", ".join(str(path) for path in written.values()))

plt.figure(figsize=(5, 3))
plt.semilogy(snapshots.losses)
plt.axvline(MSE_STEPS, color="gray", linestyle=":", label="MSE -> 1 - SSIM")
plt.xlabel("step")
plt.ylabel("loss")
plt.legend()
plt.show()

shown = snapshots.steps[:: max(1, len(snapshots.steps) // 5)][:5]
fig, axes = plt.subplots(2, len(shown), figsize=(2.4 * len(shown), 5))
for column, (step, image, kernel) in zip(axes.T, shown):
    column[0].imshow(kernel, cmap="gray")
    column[0].set_title(f"kernel, step {step}")
    column[1].imshow(image[0].clamp(0, 1), cmap="gray")
    column[1].set_title(f"latent, step {step}")
    for ax in column:
        ax.axis("off")
plt.show()""",
    ),
    (
        "code",
        r"""# The loss falls in the MSE phase (MSE and 1 - SSIM are on different scales, so the phases are compared
# separately), and the kernel is a distribution.
mse_phase = snapshots.losses[:MSE_STEPS]
assert sum(mse_phase[-10:]) < 0.5 * sum(mse_phase[:10]), (mse_phase[:10], mse_phase[-10:])
assert abs(float(result.kernel.sum()) - 1) < 1e-4 and float(result.kernel.min()) >= 0""",
    ),
    (
        "md",
        r"""## 3. Scored with Levin's protocol

The estimate is aligned to the ground truth (15 px crop, shifts within 10 px in steps of 0.25 px, bilinear
interpolation, smallest SSD), then scored: PSNR with peak 255, Wang's SSIM, and the error ratio
$\|x_{est} - x\|_2 / \|x_{gtk} - x\|_2$ (largest singular values), where $x_{gtk}$ is the sparse
(hyper-Laplacian, IRLS) non-blind deconvolution with the true kernel. SelfDeblur-Delta replaces the
true kernel by the estimated one. `selfdeblur evaluate --results DIR --dataset levin` does the same for a
whole results folder.""",
    ),
    (
        "code",
        r"""from selfdeblur.evaluation import quantise
from selfdeblur.levin_protocol import align_upto_shift, error_ratios, kernel_similarity, psnr_255, ssim_wang
from selfdeblur.sparse_deconvolution import deconvolve_sparse

y, x_true = blurry[0].double(), sharp[0].double()


def nonblind(kernel):
    return quantise(center_crop(deconvolve_sparse(y, kernel.double()), *y.shape))


estimate = quantise(result.image[0].double())
aligned = {
    "blurry input": align_upto_shift(y, x_true),
    "SelfDeblur": align_upto_shift(estimate, x_true),
    "SelfDeblur-Delta": align_upto_shift(nonblind(result.kernel), x_true),
    "known kernel": align_upto_shift(nonblind(true_kernel), x_true),
}
known = aligned["known kernel"]
print(f"{'':18s} {'PSNR':>7s} {'SSIM':>7s} {'error ratio':>12s}  shift (y, x)")
for name, a in aligned.items():
    ratio = error_ratios(a, known)["error_ratio"]
    print(f"{name:18s} {psnr_255(a.image, a.truth):7.2f} {ssim_wang(a.image, a.truth):7.4f} {ratio:12.4f}  {a.shift}")
print(f"kernel similarity to the truth: {kernel_similarity(result.kernel, true_kernel):.4f}")

fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
for ax, name in zip(axes, ["blurry input", "SelfDeblur", "SelfDeblur-Delta", "known kernel"]):
    ax.imshow(aligned[name].image.clamp(0, 1), cmap="gray")
    ax.set_title(f"{name}: {psnr_255(aligned[name].image, aligned[name].truth):.2f} dB")
    ax.axis("off")
plt.show()""",
    ),
    (
        "code",
        r"""# The error ratio of the known-kernel result against itself is 1 by definition, and the known kernel
# deblurs: its result beats the blurry input clearly.
assert error_ratios(known, known)["error_ratio"] == 1.0
assert psnr_255(known.image, known.truth) > psnr_255(aligned["blurry input"].image, known.truth) + 3
if not QUICK:  # a full run deblurs the image itself
    assert psnr_255(aligned["SelfDeblur"].image, known.truth) > psnr_255(aligned["blurry input"].image, known.truth) + 3""",
    ),
]


if __name__ == "__main__":
    write_notebook(CELLS, Path(__file__).with_name("selfdeblur_walkthrough.ipynb"))
