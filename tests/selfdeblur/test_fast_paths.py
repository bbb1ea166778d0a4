"""SelfDeblur's fast paths (channels_last layout, stacked problems) against the plain path.

Reference: the plain path (NCHW, one problem after another), which the other tests check against
hand computations, run in float64 as the exact trajectory. In float64 every path must follow it to
1e-9 for 50 steps: the same math. In float32 no two summation orders can agree that tightly over 50
steps, because SelfDeblur's optimisation amplifies rounding (Adam's first steps move every weight by
about the learning rate, whatever the size of its gradient): on these images the plain float32 run
itself ends 9-14% away from the float64 one after 50 steps. So in float32 a fast path must match the
plain one to 1e-5 over the first 2 steps (one update), and then stay as close to the exact trajectory as the plain
float32 path does (within 3x its distance, measured here, at 10 and at 50 steps).
"""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from deblur_core.motion_blur import blur, random_motion_kernel
from selfdeblur import SelfDeblur, SelfDeblurDataModule
from selfdeblur.api import solver_trainer
from selfdeblur.data.images import scikit_image
from selfdeblur.networks.image_generator import SkipGenerator
from selfdeblur.networks.kernel_generator import FCKernelGenerator
from selfdeblur.stacked_module import StackedModule
from tests.helpers import model_groups
from tests.selfdeblur.test_lightning_module import LossRecorder

# Three scales with a non-local block, so every kind of layer of the paper's G_x is exercised.
SMALL = {"image_channels": [12, 12, 12], "skip_channels": [4, 4, 4], "non_local_scales": 1, "kernel_hidden": [64]}


def write_images(folder, specs):
    """Blurry PNGs ``name.png`` from ``specs = {name: (kernel size, kernel seed, size)}``."""
    sharp = scikit_image("camera", 64, 0.25)
    for name, (k, seed, size) in specs.items():
        blurry = blur(sharp[:, seed : seed + size + k - 1, : size + k - 1], random_motion_kernel(k, seed))
        Image.fromarray((blurry[0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{name}.png")
    return {name: k for name, (k, _, _) in specs.items()}


def trajectories(folder, sizes, precision, per_group=1, **options) -> dict[str, np.ndarray]:
    """Per-image loss after every step of a 50-step run."""
    model = SelfDeblur(**model_groups(tiny=False, steps=50, mse_steps=30, milestones=[40], **SMALL, **options))
    recorder = LossRecorder(per_image=True)
    trainer = solver_trainer("cpu", precision, callbacks=[recorder])
    trainer.fit(model, SelfDeblurDataModule(images=str(folder), kernel_sizes=sizes, images_per_group=per_group))
    return {name: np.array(values) for name, values in recorder.per_image.items()}


def relative_gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    # Two images of one size (one stack) and one of another size and kernel (a second stack).
    return folder, write_images(folder, {"a": (5, 0, 28), "b": (5, 3, 28), "c": (7, 1, 24)})


@pytest.fixture(scope="module")
def plain(images):
    folder, sizes = images
    return {
        precision: trajectories(folder, sizes, precision, memory_format="contiguous", blur_method="direct")
        for precision in ("64-true", "32-true")
    }


FAST = {
    "channels_last": {"memory_format": "channels_last", "blur_method": "direct"},
    "fft_blur": {"memory_format": "contiguous", "blur_method": "fft"},
    "defaults": {},
    "stacked": {"stack_problems": True, "blur_method": "direct", "per_group": 3},
    "stacked_fft": {"stack_problems": True, "blur_method": "fft", "per_group": 3},
}


@pytest.mark.parametrize("path", list(FAST))
def test_fast_path_follows_the_plain_trajectory(images, plain, path):
    folder, sizes = images
    options = dict(FAST[path])
    per_group = options.pop("per_group", 1)
    fast64 = trajectories(folder, sizes, "64-true", per_group, **options)
    fast32 = trajectories(folder, sizes, "32-true", per_group, **options)
    for name in sizes:
        exact, plain32 = plain["64-true"][name], plain["32-true"][name]
        assert len(fast64[name]) == len(exact) == 50
        assert relative_gap(fast64[name], exact) < 1e-9, name
        assert relative_gap(fast32[name][:2], plain32[:2]) < 1e-5, name
        for steps in (10, 50):
            drift = relative_gap(plain32[:steps], exact[:steps])  # what float32 rounding does to the plain path
            assert relative_gap(fast32[name][:steps], exact[:steps]) < 3 * max(drift, 1e-3), (name, steps, drift)
        # and it optimises, in the MSE phase (steps < 30) and the 1 - SSIM phase
        assert fast32[name][29] < 0.6 * fast32[name][0] and fast32[name][-1] < fast32[name][30]


def test_stacked_generators_equal_separate_ones():
    """Outputs and gradients of a stack of three G_x (batch norm, non-local block, reflection
    padding, bilinear upsampling) and three G_k equal those of the separate networks."""
    torch.manual_seed(0)
    images = [SkipGenerator(down_channels=[6, 6, 6], skip_channels=[2] * 3, non_local_scales=2).double() for _ in "abc"]
    kernels = [FCKernelGenerator(5, in_features=7, hidden=(9,)).double() for _ in "abc"]
    z = torch.rand(3, 1, 8, 29, 27, dtype=torch.float64)
    zk = torch.rand(3, 7, dtype=torch.float64)
    stacked_x, stacked_k = StackedModule(images), StackedModule(kernels)
    out_x, out_k = stacked_x(z), stacked_k(zk)
    (out_x.square().mean() + out_k.square().sum()).backward()
    for i in range(3):
        ref_x, ref_k = images[i](z[i]), kernels[i](zk[i])
        (ref_x.square().mean() + ref_k.square().sum()).backward()
        torch.testing.assert_close(out_x[i], ref_x, rtol=0, atol=1e-12)
        torch.testing.assert_close(out_k[i], ref_k, rtol=0, atol=1e-12)
    for name, param in stacked_x.named_parameters():
        original = name.replace("__", ".")
        for i in range(3):
            grad = dict(images[i].named_parameters())[original].grad
            # The stacked loss is the mean over the stack's pixels (3x as many): a third of the gradient.
            torch.testing.assert_close(param.grad[i] * 3, grad, rtol=1e-9, atol=1e-12, msg=original)
    for name, param in stacked_k.named_parameters():
        for i in range(3):
            grad = dict(kernels[i].named_parameters())[name.replace("__", ".")].grad
            torch.testing.assert_close(param.grad[i], grad, rtol=1e-9, atol=1e-12, msg=name)
    # Running statistics of batch normalisation are kept per copy, as in the separate networks.
    assert torch.allclose(stacked_x.unstacked(1)["body.skip.1.running_mean"], images[1].body.skip[1].running_mean)


def test_structurally_different_modules_are_refused():
    with pytest.raises(ValueError, match="module 1 differs"):
        StackedModule([FCKernelGenerator(5, 7, (9,)), FCKernelGenerator(7, 7, (9,))])


def test_stacked_group_keeps_a_group_of_mixed_sizes_in_order(images):
    """A group with two sizes forms two stacks; results come back under the right names."""
    folder, sizes = images
    model = SelfDeblur(**model_groups(tiny=False, steps=2, stack_problems=True, **SMALL))
    pl.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False
    ).fit(model, SelfDeblurDataModule(images=str(folder), kernel_sizes=sizes, images_per_group=3))
    assert [(r.name, tuple(r.image.shape[-2:]), r.kernel.shape[-1]) for r in model.finished] == [
        ("a", (28, 28), 5),
        ("b", (28, 28), 5),
        ("c", (24, 24), 7),
    ]
