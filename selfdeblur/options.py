"""SelfDeblur's options, in four groups: the optimisation, the generators, the TV term, and how it is computed.

Each group is a frozen dataclass that checks its values when it is made, naming the option
(``model.<group>.<field>``) in the error. In YAML and on the command line they nest under ``model``::

    model:
      optimization: {steps: 5000, mse_steps: 1000, milestones: [2000, 3000, 4000]}
      generators: {image_channels: [128, 128, 128, 128, 128]}
      tv: {weight: auto}
      compute: {stack_problems: true}
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
    """

    input_channels: int = 8
    input_noise_std: float = 0.001
    image_channels: tuple[int, ...] = (128, 128, 128, 128, 128)
    skip_channels: tuple[int, ...] = (16, 16, 16, 16, 16)
    non_local_scales: int = 3
    kernel_generator: Literal["fc", "dip"] = "fc"
    kernel_hidden: tuple[int, ...] = (1000,)

    def __post_init__(self) -> None:
        group = "model.generators"
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
    """

    stack_problems: bool = False
    memory_format: Literal["auto", "contiguous", "channels_last"] = "auto"
    blur_method: Literal["auto", "direct", "fft"] = "auto"
    float32_precision: Literal["ieee", "tf32"] = "ieee"

    def __post_init__(self) -> None:
        group = "model.compute"
        _one_of(f"{group}.memory_format", self.memory_format, ("auto", "contiguous", "channels_last"))
        _one_of(f"{group}.blur_method", self.blur_method, ("auto", "direct", "fft"))
        _one_of(f"{group}.float32_precision", self.float32_precision, FLOAT32_PRECISIONS)
