"""SelfDeblur's options, in five groups: the optimisation, the generators, the TV term, how it is computed, and
the fast mode for large images.

Each group is a frozen dataclass that checks its values when it is made, naming the option
(``model.<group>.<field>``) in the error. In YAML and on the command line they nest under ``model``::

    model:
      optimization: {steps: 5000, mse_steps: 1000, milestones: [2000, 3000, 4000]}
      generators: {image_channels: [128, 128, 128, 128, 128]}
      tv: {weight: auto}
      compute: {stack_problems: true}
      fast: {enabled: auto}
      seed: 0

    selfdeblur fit --config configs/selfdeblur/levin.yaml --model.optimization.steps 2500

Defaults are the paper's settings for Levin et al.'s images (Ren et al., CVPR 2020, and the authors'
``selfdeblur_levin.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deblur_core.cli_errors import UsageError
from selfdeblur.cuda_precision import CHOICES as FLOAT32_PRECISIONS


def check(option: str, value: object, ok: bool, expected: str) -> None:
    """Raise :class:`~deblur_core.cli_errors.UsageError` (a ``ValueError``) ``"<option> must be <expected>, got
    <value>"`` unless ``ok``."""
    if not ok:
        raise UsageError(f"{option} must be {expected}, got {value!r}")


def _one_of(option: str, value: object, choices: tuple[str, ...]) -> None:
    check(option, value, value in choices, " or ".join(repr(c) for c in choices))


@dataclass(frozen=True)
class Optimization:
    """How each image is optimised (Adam on G_x and G_k, the loss schedule, the learning-rate decay).

    Args:
        steps: optimisation steps per image (5000 in the paper for Levin, 2500 for real photos).
        lr_image: Adam learning rate of G_x.
        lr_kernel: Adam learning rate of G_k.
        milestones: 0-based steps at which both learning rates are multiplied by ``gamma``.
        gamma: learning-rate decay factor.
        mse_steps: the loss is MSE for steps ``< mse_steps``, then ``1 - SSIM``.
        mode: ``"joint"`` (the paper's default: one Adam step on both generators per step) or
            ``"alternating"`` (SelfDeblur-A: per step, one Adam step on G_k with G_x fixed, then one
            on G_x with the updated G_k fixed).
    """

    steps: int = 5000
    lr_image: float = 1e-2
    lr_kernel: float = 1e-4
    milestones: tuple[int, ...] = (2000, 3000, 4000)
    gamma: float = 0.5
    mse_steps: int = 1000
    mode: Literal["joint", "alternating"] = "joint"

    def __post_init__(self) -> None:
        group = "model.optimization"
        steps_ok = isinstance(self.steps, int) and not isinstance(self.steps, bool) and self.steps > 0
        check(f"{group}.steps", self.steps, steps_ok, "a positive integer")
        check(f"{group}.lr_image", self.lr_image, self.lr_image > 0, "positive")
        check(f"{group}.lr_kernel", self.lr_kernel, self.lr_kernel > 0, "positive")
        check(f"{group}.gamma", self.gamma, self.gamma > 0, "positive")
        check(f"{group}.mse_steps", self.mse_steps, self.mse_steps >= 0, ">= 0")
        check(f"{group}.milestones", self.milestones, all(m >= 0 for m in self.milestones), "steps >= 0")
        _one_of(f"{group}.mode", self.mode, ("joint", "alternating"))
        object.__setattr__(self, "milestones", tuple(sorted(self.milestones)))


@dataclass(frozen=True)
class Generators:
    """G_x (a deep-image-prior skip autoencoder) and G_k (fully connected, softmax output), and their inputs.

    Args:
        input_channels: channels of G_x's input ``z_x``.
        input_noise_std: standard deviation of the per-step perturbation of ``z_x``.
        image_channels: G_x channels per scale (encoder and decoder).
        skip_channels: G_x skip-branch channels per scale.
        non_local_scales: number of deepest G_x scales with a non-local block.
        kernel_generator: ``"fc"`` (fully connected) or ``"dip"`` (convolutional, Double-DIP style).
        kernel_hidden: hidden widths of the ``"fc"`` generator: ``[1000]`` (paper), ``[]`` (no
            hidden layer), ``[1000, 1000]`` (an extra one).
        kernel_init: ``None`` (the paper: G_k starts from its random initialisation), or the output folder of an
            earlier run: each image's G_k then starts at that run's ``NAME_kernel.npy``, resampled to this run's
            kernel size (in the fast mode, its reduced scale), through
            :meth:`~selfdeblur.networks.kernel_generator.FCKernelGenerator.start_at`. A coarse-to-fine schedule
            is two runs: the fast mode with a small ``max_kernel_size``, then a larger one started from it.
    """

    input_channels: int = 8
    input_noise_std: float = 0.001
    image_channels: tuple[int, ...] = (128, 128, 128, 128, 128)
    skip_channels: tuple[int, ...] = (16, 16, 16, 16, 16)
    non_local_scales: int = 3
    kernel_generator: Literal["fc", "dip"] = "fc"
    kernel_hidden: tuple[int, ...] = (1000,)
    kernel_init: str | None = None

    def __post_init__(self) -> None:
        group = "model.generators"
        if self.kernel_init is not None and self.kernel_generator != "fc":
            raise UsageError(f"{group}.kernel_init needs {group}.kernel_generator fc, not {self.kernel_generator}")
        check(f"{group}.input_channels", self.input_channels, self.input_channels > 0, "positive")
        check(f"{group}.input_noise_std", self.input_noise_std, self.input_noise_std >= 0, ">= 0")
        check(f"{group}.image_channels", self.image_channels, len(self.image_channels) > 0, "at least one scale")
        scales = len(self.image_channels)
        check(
            f"{group}.non_local_scales",
            self.non_local_scales,
            0 <= self.non_local_scales <= scales,
            f"in [0, {scales}]",
        )
        if len(self.skip_channels) != scales:
            raise UsageError(
                f"{group}.skip_channels {list(self.skip_channels)} must have one entry per scale of "
                f"{group}.image_channels {list(self.image_channels)}"
            )
        _one_of(f"{group}.kernel_generator", self.kernel_generator, ("fc", "dip"))

    @property
    def scales(self) -> int:
        return len(self.image_channels)


@dataclass(frozen=True)
class TotalVariation:
    """The optional TV term of the paper's Eq. 6, :math:`\\lambda \\, \\mathrm{TV}(G_x(z_x))`.

    Args:
        weight: :math:`\\lambda`, or ``"auto"``: ``gain * sigma**2`` with ``sigma`` the noise level
            (``noise_sigma``, or estimated from each blurry image). The quadratic law is the MAP
            weighting of a mean-squared data term against a Laplacian gradient prior; ``gain = 50``
            corresponds to a prior mean gradient magnitude of 0.04.
        norm: ``"l1"`` (total variation) or ``"l2"`` (squared differences, the authors' ``TVLoss``).
        gain: see ``weight``.
        noise_sigma: noise standard deviation of the blurry images (in [0, 1] units), if known.
    """

    weight: float | Literal["auto"] = 0.0
    norm: Literal["l1", "l2"] = "l1"
    gain: float = 50.0
    noise_sigma: float | None = None

    def __post_init__(self) -> None:
        group = "model.tv"
        ok = self.weight == "auto" or (isinstance(self.weight, (int, float)) and self.weight >= 0)
        check(f"{group}.weight", self.weight, ok, ">= 0 or 'auto'")
        _one_of(f"{group}.norm", self.norm, ("l1", "l2"))
        check(f"{group}.gain", self.gain, self.gain >= 0, ">= 0")
        sigma_ok = self.noise_sigma is None or self.noise_sigma >= 0
        check(f"{group}.noise_sigma", self.noise_sigma, sigma_ok, ">= 0 or null")


@dataclass(frozen=True)
class Compute:
    """How the optimisation is computed; every choice gives the same result up to floating-point rounding.

    Args:
        stack_problems: run the generators of a group's equally sized images as one batched call
            (``vmap`` over stacked weights) instead of one after another; it pays where one image
            leaves the device idle (GPUs).
        memory_format: layout of G_x's feature maps when not stacking: ``"channels_last"`` (NHWC),
            ``"contiguous"`` (NCHW), or ``"auto"``: channels_last on the CPU (oneDNN's NHWC
            convolutions are faster there; docs/performance.md), contiguous elsewhere.
        blur_method: how the kernel blurs the latent image: ``"direct"`` (a convolution layer),
            ``"fft"`` (products of FFTs), or ``"auto"``: FFT from
            :data:`deblur_core.blur.FFT_FROM_KERNEL_SIZE` on (faster on the CPU and closer to the exact
            result there; docs/performance.md).
        float32_precision: how a GPU computes float32 convolutions and matrix products during the fit:
            ``"ieee"`` (float32 arithmetic: the same results as on the CPU up to rounding) or ``"tf32"``
            (tensor cores, faster on Ampere and newer GPUs); see :mod:`selfdeblur.cuda_precision`.
            No effect on the CPU.
        memory_limit_gb: before any work, each group's estimated peak memory (:mod:`selfdeblur.memory_estimate`)
            is checked against this many GiB of new memory, or by default (``null``) against what the device has
            free (the CPU's available memory, the GPU's free memory); a group that would not fit is refused with
            the estimate and the option that makes it fit.
    """

    stack_problems: bool = False
    memory_format: Literal["auto", "contiguous", "channels_last"] = "auto"
    blur_method: Literal["auto", "direct", "fft"] = "auto"
    float32_precision: Literal["ieee", "tf32"] = "ieee"
    memory_limit_gb: float | None = None

    def __post_init__(self) -> None:
        group = "model.compute"
        _one_of(f"{group}.memory_format", self.memory_format, ("auto", "contiguous", "channels_last"))
        _one_of(f"{group}.blur_method", self.blur_method, ("auto", "direct", "fft"))
        _one_of(f"{group}.float32_precision", self.float32_precision, FLOAT32_PRECISIONS)
        limit_ok = self.memory_limit_gb is None or self.memory_limit_gb > 0
        check(f"{group}.memory_limit_gb", self.memory_limit_gb, limit_ok, "positive or null")


@dataclass(frozen=True)
class FastMode:
    """The fast mode for large images: the kernel from a reduced problem, the image by non-blind deconvolution.

    SelfDeblur's networks and losses solve a *reduced* problem: the photo downscaled until the kernel is at most
    ``max_kernel_size`` pixels, and in it the ``crop x crop`` window with the most edges
    (:mod:`selfdeblur.reduced_problem`). The kernel found there, brought back to full scale, deconvolves every
    colour channel of the full photo with the hyper-Laplacian solver, in tiles, leaving saturated pixels out
    (:mod:`selfdeblur.full_resolution`). The paper's mode (``enabled: false``) generates the whole image with
    G_x, which costs time and memory in proportion to its pixels.

    Args:
        enabled: ``true``, ``false`` (the paper's mode), or ``"auto"``: for images of more than ``above_pixels``
            pixels.
        above_pixels: the size from which ``"auto"`` uses the fast mode.
        max_kernel_size: downscale until the kernel is at most this wide (``null``: never downscale). 11 rather
            than 17: on a Kodak photo with a 25 px kernel and 1% noise, +0.5 dB over the blurry image against -2.7
            (docs/results/selfdeblur_fast.md).
        crop: side of the estimation window in downscaled pixels (``null``: the whole downscaled image).
        smoothness: prior weight of the full-resolution deconvolution (``deconvSps.m``'s ``we``; Levin et al.
            use 0.001-0.004, more for noisier photos), or ``"auto"``: from each photo's noise level, 0.002 up to
            1% noise and growing as its square above (:func:`selfdeblur.full_resolution.smoothness_for`).
        saturation: pixel value from which a pixel counts as clipped and is left out of the deconvolution.
        tile: side of the deconvolution's tiles in pixels (bounds its memory).
        cg_iterations: conjugate-gradient iterations per solve of the deconvolution.
        coarse_kernel_sizes: coarse to fine: the ``max_kernel_size`` of stages solved *before* the final one,
            increasing and below ``max_kernel_size`` (``[]``: one stage). Each stage is a reduced problem of its own
            scale, solved with the whole ``optimization`` schedule (so an image takes ``steps`` times the number of
            stages); G_k starts each stage at the previous stage's kernel, brought to the new scale, and G_x starts
            afresh (its output size changes). Needs ``enabled: true``. On Lai, a stage at 11 before one at 21 beat
            one stage at 11 on all 5 images tried (docs/results/lai.md).
        window: how the ``crop`` window is chosen: ``"edges"``, the most gradient; ``"coherent_edges"``, gradient
            weighted by Xu and Jia's r-map, which prefers long straight edges to texture and noise
            (:mod:`selfdeblur.reduced_problem`); measured in docs/results/selfdeblur_fast.md.
        draws: initialisations (draws of G_x's and G_k's weights and inputs) each fast-mode image's reduced problem
            is solved from, together; one kernel is kept (``choose``) and only it deconvolves the photo. The first
            draw is the one-draw run's. The estimation's time and memory grow with the number of draws; 1: one draw.
        choose: the rule that keeps one kernel of several draws, without the truth
            (:mod:`selfdeblur.kernel_choice`): ``"sparsity"``, the kernel whose deconvolution of the estimation
            window's full-resolution region has the sparsest gradients (Krishnan et al.'s l1/l2; one deconvolution
            of that region per draw); ``"spread"``, the least compact kernel; ``"consensus"``, the kernel most like
            the others. Measured in docs/results/draw_choice.md.
    """

    enabled: bool | Literal["auto"] = False
    above_pixels: int = 300_000
    max_kernel_size: int | None = 11
    crop: int | None = 160
    smoothness: float | Literal["auto"] = "auto"
    saturation: float = 0.98
    tile: int = 1024
    cg_iterations: int = 50
    coarse_kernel_sizes: tuple[int, ...] = ()
    window: Literal["edges", "coherent_edges"] = "edges"
    draws: int = 1
    choose: Literal["consensus", "spread", "sparsity"] = "sparsity"

    def __post_init__(self) -> None:
        group = "model.fast"
        object.__setattr__(self, "coarse_kernel_sizes", tuple(self.coarse_kernel_sizes))
        check(f"{group}.enabled", self.enabled, self.enabled in (True, False, "auto"), "true, false or 'auto'")
        check(f"{group}.above_pixels", self.above_pixels, self.above_pixels >= 0, ">= 0")
        ok = self.max_kernel_size is None or (self.max_kernel_size >= 3 and self.max_kernel_size % 2 == 1)
        check(f"{group}.max_kernel_size", self.max_kernel_size, ok, "an odd integer >= 3 or null")
        check(f"{group}.crop", self.crop, self.crop is None or self.crop >= 16, ">= 16 or null")
        ok = self.smoothness == "auto" or (isinstance(self.smoothness, (int, float)) and self.smoothness > 0)
        check(f"{group}.smoothness", self.smoothness, ok, "positive or 'auto'")
        check(f"{group}.saturation", self.saturation, self.saturation > 0, "positive")
        check(f"{group}.tile", self.tile, self.tile >= 64, ">= 64")
        check(f"{group}.cg_iterations", self.cg_iterations, self.cg_iterations >= 1, ">= 1")
        _one_of(f"{group}.window", self.window, ("edges", "coherent_edges"))
        check(
            f"{group}.draws",
            self.draws,
            isinstance(self.draws, int) and not isinstance(self.draws, bool) and self.draws >= 1,
            "an integer >= 1",
        )
        _one_of(f"{group}.choose", self.choose, ("consensus", "spread", "sparsity"))
        sizes = [*self.coarse_kernel_sizes, self.max_kernel_size]
        ok = all(isinstance(k, int) and k >= 3 and k % 2 == 1 for k in sizes)
        ok = ok and sizes == sorted(set(sizes))  # type: ignore[type-var]  # all int when ok
        check(
            f"{group}.coarse_kernel_sizes",
            list(self.coarse_kernel_sizes),
            ok or not self.coarse_kernel_sizes,
            f"odd integers >= 3, increasing and below model.fast.max_kernel_size ({self.max_kernel_size})",
        )
        check(
            f"{group}.coarse_kernel_sizes",
            list(self.coarse_kernel_sizes),
            self.enabled is True or not self.coarse_kernel_sizes,
            "[] unless model.fast.enabled is true (every image then has the same stages)",
        )

    def applies_to(self, height: int, width: int) -> bool:
        """Whether an ``height x width`` image is solved in the fast mode."""
        return self.enabled is True or (self.enabled == "auto" and height * width > self.above_pixels)
