"""Writes ``reblur_walkthrough.ipynb`` (without outputs) from the cells below.

Edit the cells here and run ``python notebooks/make_reblur_walkthrough.py``; the notebook is the generated
file, kept in the repository so that it can be opened and run directly.
"""

from __future__ import annotations

from pathlib import Path

from notebook_cells import write_notebook

CELLS: list[tuple[str, str]] = [
    (
        "md",
        r"""# Clean images are hard to reblur: a walkthrough

Nah, Son, Lee and Lee, *Clean Images are Hard to Reblur: Exploiting the Ill-Posed Inverse Task for
Dynamic Scene Deblurring*, ICLR 2022. Notation: $B$ a blurry image, $S$ its sharp version, $M_D$ the
deblurring network, $M_R$ the reblurring module, $\|\cdot\|_1$ the mean absolute difference.

The idea: train a small network $M_R$ to *reblur* deblurred images, i.e. to turn $M_D(B)$ back into $B$,
while leaving sharp images alone. Where $M_D$ left blur behind, $M_R$ finds cues (streaks, their direction
and length) and amplifies them; a sharp image has no such cue, and the blur that made $B$ cannot be
guessed from it (the inverse task is ill-posed), so $M_R$ changes it little. How much $M_R$ changes an image
then measures the blur left in it, without ground truth, which gives

1. a training loss for $M_D$ (the *reblurring loss*), and
2. a loss for adapting $M_D$ to a test image at inference (*test-time adaptation*).

This notebook

1. makes synthetic blurry/sharp pairs (scikit-image sample images, random camera-shake kernels);
2. trains $M_R$ on them and measures, on held-out images, how much it changes a sharp image and a
   poorly deblurred one: the paper's observation;
3. trains a small $M_D$ with L1 + reblurring loss (`reblur.lightning_module.ReblurTraining`, PyTorch Lightning);
4. adapts $M_D$ to one held-out image with the self-reblurring loss, before/after.

Everything runs on the CPU. CI runs this notebook with `NOTEBOOK_QUICK=1` (a minute or two, tiny
parameters: the networks are barely trained, read the numbers with that in mind); without it, the
parameters below are the full-size ones (the outputs stored with this notebook; the time is printed at the
end). Section 4's images are also written to `results/reblur_walkthrough/` (relative to the folder the
notebook runs in), which `docs/figures/make_readme_figures.py` draws the README's figure from.""",
    ),
    (
        "code",
        r"""import os

# CI sets NOTEBOOK_QUICK=1: same steps, much smaller sizes.
QUICK = os.environ.get("NOTEBOOK_QUICK") == "1"

IMAGE_SIZE = 96 if QUICK else 128  # side of the synthetic pairs
KERNEL_SIZE = 9  # side of the camera-shake kernels
CROP = 48 if QUICK else 64  # training crops
BATCH = 8
REBLUR_STEPS = 400 if QUICK else 4000  # M_R pre-training steps (section 2)
REBLUR_CHANNELS = 32  # M_R width (the paper: 64, four times the cost per step)
DEBLUR_ITERATIONS = 40 if QUICK else 600  # M_D training iterations (section 3)
ADAPT_STEPS, ADAPT_LR = 10, 1e-4  # test-time adaptation (section 4)
print(f"QUICK={QUICK}")""",
    ),
    (
        "code",
        r"""import time
import warnings

import matplotlib.pyplot as plt
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from reblur.data import SyntheticPairsDataModule
from reblur.losses import reblurring_module_losses
from reblur.metrics import psnr
from reblur.networks import ReblurringModule, UNet
from reblur.lightning_module import ReblurTraining
from reblur.options import DeblurLoss, Evaluation, NetworkUpdates
from reblur.adaptation import adapt
from deblur_core.blur import convolve_valid

# Lightning's hints about dataloader workers and logging are noise in a walkthrough.
warnings.filterwarnings("ignore", module="pytorch_lightning")
pl.seed_everything(0)
started = time.perf_counter()""",
    ),
    (
        "md",
        r"""## 1. Synthetic pairs

`SyntheticPairsDataModule` resizes scikit-image sample images (bundled, no download) and blurs each with
seeded random camera-shake kernels; the last two images of its list are held out (with their own kernels)
for validation. Every pair keeps its kernel, which section 2 uses.""",
    ),
    (
        "code",
        r"""data = SyntheticPairsDataModule(
    image_size=IMAGE_SIZE,
    kernel_size=KERNEL_SIZE,
    blur_noise_sigma=0.01,
    pairs_per_image=4,
    val_images=2,
    crop_size=CROP,
    batch_size=BATCH,
    num_workers=0,
    persistent_workers=False,
)
data.setup("fit")
train_pairs, val_pairs = data.pairs("train"), data.pairs("val")
print(f"{len(train_pairs)} training pairs, {len(val_pairs)} held-out pairs of {IMAGE_SIZE}x{IMAGE_SIZE}")
print("held out:", sorted({pair.source for pair in val_pairs}))


def rgb(image):
    # Grayscale sources are repeated to 3 channels, as the datamodule's batches are.
    return image.expand(3, -1, -1) if image.shape[0] == 1 else image


def show(images, titles, size=2.6):
    figure, axes = plt.subplots(1, len(images), figsize=(size * len(images), size))
    for axis, image, title in zip(axes, images, titles):
        axis.imshow(image.detach().clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    plt.tight_layout()
    plt.show()
    plt.close(figure)  # a non-interactive backend would otherwise keep every figure open


pair = val_pairs[0]
show([rgb(pair.sharp), rgb(pair.blurry), pair.kernel[None].expand(3, -1, -1) / pair.kernel.max()],
     ["sharp S", "blurry B", "kernel"])""",
    ),
    (
        "md",
        r"""## 2. The reblurring module and the paper's observation

$M_R$ (`ReblurringModule`: a head convolution, one residual block, a tail convolution, plus the input) is
trained with

$$\mathcal{L}_\text{Blur} = \| M_R(M_D(B)) - B \|_1, \qquad \mathcal{L}_\text{Sharp} = \| M_R(P) - P \|_1,$$

where $P$ is a sharp image (the paper uses the pseudo-sharp $M_D(S)$; here $P = S$), see
`reblur.losses.reblurring_module_losses`. $M_R$ must learn to reblur *what a deblurrer leaves*, so it needs
deblurred images with blur left in them. A network trained for a minute on a CPU removes almost none
(section 3), and $M_R$ would learn the identity from it. As a stand-in we use a **deliberately poor
deblurrer** that removed half of the camera shake: $D = S \ast k_{1/2}$, with $k_{1/2}$ the pair's own kernel
shrunk to half its length (same direction, shorter streaks). $M_R$ sees $(D, B)$ and $(S, S)$ on random
crops of the training images.""",
    ),
    (
        "code",
        r"""def shorter_shake(kernel, fraction=0.5):
    # The same motion path at `fraction` of its length: area resampling keeps its shape, odd side keeps it centred.
    side = max(1, round(kernel.shape[-1] * fraction)) | 1
    small = F.interpolate(kernel[None, None], size=(side, side), mode="area")[0, 0]
    return small / small.sum()


def poorly_deblurred(sharp, kernel):
    # Replicate padding keeps the sharp image's size and alignment (the kernel is small: little border effect).
    short = shorter_shake(kernel)
    pad = short.shape[-1] // 2
    return convolve_valid(F.pad(sharp[None], (pad,) * 4, mode="replicate"), short)[0]


def stack(pairs):
    sharp = torch.stack([rgb(p.sharp) for p in pairs])
    blurry = torch.stack([rgb(p.blurry) for p in pairs])
    half = torch.stack([poorly_deblurred(rgb(p.sharp), p.kernel) for p in pairs])
    return sharp, blurry, half


S_train, B_train, D_train = stack(train_pairs)
S_val, B_val, D_val = stack(val_pairs)
print(f"held out, mean |x - S|: blurry {(B_val - S_val).abs().mean():.4f}, ", end="")
print(f"half-deblurred {(D_val - S_val).abs().mean():.4f}")""",
    ),
    (
        "code",
        r"""reblur_net = ReblurringModule(n_blocks=1, channels=REBLUR_CHANNELS)
optimizer = torch.optim.Adam(reblur_net.parameters(), lr=1e-3)
generator = torch.Generator().manual_seed(0)
tick = time.perf_counter()
for step in range(1, REBLUR_STEPS + 1):
    # A random batch of pairs, one random crop position shared by D, B and S so they stay aligned.
    index = torch.randint(len(S_train), (BATCH,), generator=generator)
    top, left = torch.randint(IMAGE_SIZE - CROP + 1, (2,), generator=generator).tolist()
    crop = (index, slice(None), slice(top, top + CROP), slice(left, left + CROP))
    losses = reblurring_module_losses(reblur_net, D_train[crop], B_train[crop], S_train[crop])
    optimizer.zero_grad(set_to_none=True)
    losses["total"].backward()
    optimizer.step()
    if step % max(1, REBLUR_STEPS // 5) == 0:
        print(f"step {step:5d}  L_Blur {losses['blur']:.4f}  L_Sharp {losses['sharp']:.4f}")
print(f"M_R trained in {time.perf_counter() - tick:.0f} s")""",
    ),
    (
        "md",
        r"""### Does reblurring change sharp images less than poorly deblurred ones?

On the **held-out** images (never seen in training, with their own kernels), for each input $x$: the change
$\|M_R(x) - x\|_1$, and how far $M_R$ moves $x$ towards its blurry version $B$ as a fraction of the distance,
$1 - \|M_R(x) - B\|_1 / \|x - B\|_1$ (0: not at all, 1: all the way). The paper's observation: small for the
sharp $S$, large for the poorly deblurred $D$ (and the blurry $B$ itself, if nothing was deblurred).

Beware of one bias of the change: the same blur changes a sharp image more than a blurry one (a sharp
image has more detail to lose), so a module that blurred everything alike would change $S$ *most*. The
observation needs $M_R$ to have learnt to *tell* blur from sharpness, which takes training; the printed
verdict says whether this run got there.""",
    ),
    (
        "code",
        r"""def change(x):
    return (reblur_net(x) - x).abs().mean().item()


def towards_blurry(x):
    return 1 - ((reblur_net(x) - B_val).abs().mean() / (x - B_val).abs().mean()).item()


with torch.no_grad():
    changes = {"sharp S": change(S_val), "half-deblurred D": change(D_val), "blurry B": change(B_val)}
    progress = {"sharp S": towards_blurry(S_val), "half-deblurred D": towards_blurry(D_val)}
    untrained = ReblurringModule(n_blocks=1, channels=REBLUR_CHANNELS)
    untrained_change = (untrained(S_val) - S_val).abs().mean().item()
for name, value in changes.items():
    moved = f"   moved towards B: {progress[name]:6.1%}" if name in progress else ""
    print(f"{name:17s} ||M_R(x) - x||_1 = {value:.4f}{moved}")
print(f"(an untrained M_R changes S by {untrained_change:.4f})")
for name in ("half-deblurred D", "blurry B"):
    ratio = changes[name] / changes["sharp S"]
    verdict = "holds" if ratio > 1 else "does not hold in this run"
    print(f"{name} changes {ratio:.2f}x as much as S: on the raw change the observation {verdict}")

# Centre crops of one held-out pair; the changes are a few grey levels, so they are also shown magnified.
GAIN = 10
with torch.no_grad():
    window = slice(IMAGE_SIZE // 4, 3 * IMAGE_SIZE // 4)
    S0, D0, B0 = (x[:1, :, window, window] for x in (S_val, D_val, B_val))
    RS, RD = reblur_net(S0), reblur_net(D0)
show(
    [x[0] for x in (S0, RS, GAIN * (RS - S0).abs(), D0, RD, GAIN * (RD - D0).abs(), B0)],
    ["S", "M_R(S)", f"|M_R(S) - S| x{GAIN}", "D (half-deblurred)", "M_R(D)", f"|M_R(D) - D| x{GAIN}", "B"],
    size=2.2,
)""",
    ),
    (
        "md",
        r"""The check that CI runs: reblurring moves the poorly deblurred image towards its blurry version by a
larger fraction than it moves the sharp image, i.e. $M_R$ amplifies the blur that is left rather than
blurring whatever it is given; and trained with $\mathcal{L}_\text{Sharp}$ it changes sharp images less than an
untrained module does.""",
    ),
    (
        "code",
        r"""assert progress["half-deblurred D"] > progress["sharp S"], progress
assert progress["half-deblurred D"] > 0, progress
assert changes["sharp S"] < untrained_change, (changes, untrained_change)""",
    ),
    (
        "md",
        r"""## 3. Training $M_D$ with the reblurring loss

`ReblurTraining` alternates, per batch (an *iteration*; `max_steps` counts iterations), one $M_R$ step on
$\mathcal{L}_\text{Blur} + \mathcal{L}_\text{Sharp}$ (now on $M_D$'s own outputs, with the pseudo-sharp
$P = M_D(S)$) and one $M_D$ step on

$$\mathcal{L}_D = \| M_D(B) - S \|_1 + \lambda \, \| M_R(M_D(B)) - M_R(S) \|_1,$$

with $M_R$ frozen in the $M_D$ step. $M_R$ starts from section 2's weights and is fine-tuned with a smaller
learning rate. $M_D$ is a small U-Net.""",
    ),
    (
        "code",
        r"""from functools import partial

model = ReblurTraining(
    deblur_net=UNet(channels=(16, 32, 64)),
    reblur_net=reblur_net,
    loss=DeblurLoss(reblur_weight=1.0),
    deblur_updates=NetworkUpdates(partial(torch.optim.Adam, lr=1e-3)),
    reblur_updates=NetworkUpdates(partial(torch.optim.Adam, lr=1e-4)),
    evaluation=Evaluation(metrics=("psnr", "ssim")),
)
trainer = pl.Trainer(
    max_steps=DEBLUR_ITERATIONS,
    accelerator="cpu",
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    limit_val_batches=0,
)
tick = time.perf_counter()
trainer.fit(model, datamodule=data)
print(f"M_D trained for {DEBLUR_ITERATIONS} iterations in {time.perf_counter() - tick:.0f} s")

deblur_net = model.deblur_net.eval()
with torch.no_grad():
    deblurred = deblur_net(B_val).clamp(0, 1)
print(f"held-out PSNR: blurry {psnr(B_val, S_val).mean():.2f} dB -> M_D {psnr(deblurred, S_val).mean():.2f} dB")""",
    ),
    (
        "md",
        r"""## 4. Test-time adaptation on one image

Without ground truth, $M_D$ can be fine-tuned on the test image itself so that its output is hard to
reblur: a few Adam steps (copy of $M_D$, $M_R$ frozen) on the self-reblurring loss

$$\mathcal{L}(\theta) = \| M_R(M_D(B;\theta)) - \mathrm{sg}(M_D(B;\theta)) \|_1$$

(`reblur.adaptation.adapt`; sg: stop-gradient). Because of the stop-gradient the steps do not
follow the gradient of this loss itself: they make the output sharper where $M_R$ amplifies what it changes,
and the loss may go either way (see the module's docstring). The trained $M_D$ is not modified. A few
settings are tried first (all parameters, or only biases with `params="norm_bias"`; 10 steps each), then one
is shown.""",
    ),
    (
        "code",
        r"""image = val_pairs[0]
blurry, sharp = rgb(image.blurry)[None], rgb(image.sharp)[None]
with torch.no_grad():
    before = deblur_net(blurry)
print(f"image {image.name}, PSNR of M_D {psnr(before.clamp(0, 1), sharp).item():.2f} dB; adaptation settings:")
for params in ("all", "norm_bias"):
    for lr in (1e-5, 1e-4, 1e-3):
        trial = adapt(deblur_net, reblur_net, blurry, steps=ADAPT_STEPS, lr=lr, params=params)
        print(f"  params={params:9s} lr={lr:g}: loss {trial.loss_before.item():.5f} -> {trial.loss_after.item():.5f}, "
              f"PSNR {psnr(trial.output.clamp(0, 1), sharp).item():.2f} dB")

result = adapt(deblur_net, reblur_net, blurry, steps=ADAPT_STEPS, lr=ADAPT_LR)
after = result.output
outputs = {"blurry": blurry, "M_D": before, "adapted": after}
scores = {name: psnr(x.clamp(0, 1), sharp).item() for name, x in outputs.items()}
print(f"shown: params=all, {ADAPT_STEPS} steps, lr {ADAPT_LR:g}, {result.seconds:.1f} s")
print(f"self-reblurring loss: {result.loss_before.item():.5f} -> {result.loss_after.item():.5f}")
print("PSNR: " + ", ".join(f"{name} {value:.2f} dB" for name, value in scores.items()))
gain = scores["adapted"] - scores["M_D"]
print(f"the adaptation {'improved' if gain > 0 else 'did not improve'} this image: {gain:+.2f} dB")
window = slice(IMAGE_SIZE // 4, 3 * IMAGE_SIZE // 4)
show(
    [x[0, :, window, window] for x in (*outputs.values(), sharp)],
    [f"{name} {score:.2f} dB" for name, score in scores.items()] + ["sharp"],
)""",
    ),
    (
        "code",
        r"""# The adaptation works on a copy: the trained network gives the same output as before.
with torch.no_grad():
    assert torch.equal(deblur_net(blurry), before)
assert torch.isfinite(after).all() and result.loss_after.isfinite().all()

from pathlib import Path

from deblur_core.image_io import save_image

figure_inputs = Path("results") / "reblur_walkthrough"
for name, x in {**outputs, "sharp": sharp}.items():
    save_image(figure_inputs / f"{name}.png", x[0].clamp(0, 1))
torch.save(image.kernel, figure_inputs / "kernel.pt")
print(f"images written to {figure_inputs}; notebook ran in {time.perf_counter() - started:.0f} s")""",
    ),
    (
        "md",
        r"""## What to take away

* $M_R$ learns to reblur only from deblurred images that still carry blur; trained on them it moves a
  poorly deblurred image towards its blurry version and leaves sharp images closer to themselves. How
  clearly the raw change separates the two depends on how long $M_R$ trained (compare the quick CI run
  with the full-size one), and the blurry input itself, further from anything $M_R$ saw in training, need
  not be reblurred more than a sharp image.
* The reblurring loss and the self-reblurring loss reuse that behaviour: for $M_D$ during training, and
  for one image at test time. Adaptation only helps when $M_R$ amplifies the blur it sees; with modules
  trained this briefly, expect small or negative gains and keep the learning rate small.
* With the real data sets (GOPRO, REDS) use the command line: `reblur fit --config configs/reblur/...`, and
  the `TestTimeAdaptation` callback for adaptation at test time (see the README).""",
    ),
]


if __name__ == "__main__":
    write_notebook(CELLS, Path(__file__).with_name("reblur_walkthrough.ipynb"))
