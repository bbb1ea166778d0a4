"""ReblurTraining's options, in three kinds of groups: the M_D objective, how each network is updated, and how
validation and test are scored.

Each group is a frozen dataclass that checks its values when it is made, naming the option. In YAML::

    model:
      deblur_net: {class_path: reblur.networks.UNet}
      reblur_net: {class_path: reblur.networks.ReblurringModule, init_args: {n_blocks: 1}}
      loss: {reblur_weight: 1.0, pseudo_sharp: true}
      deblur_updates:
        optimizer: {class_path: torch.optim.Adam, init_args: {lr: 1.0e-4}}
        scheduler: {class_path: torch.optim.lr_scheduler.CosineAnnealingLR, init_args: {T_max: 300000}}
      reblur_updates:
        optimizer: {class_path: torch.optim.Adam, init_args: {lr: 1.0e-4}}
      evaluation: {metrics: [psnr, ssim, lpips, niqe], color: rgb}

    reblur fit --config CONFIG --model.loss.reblur_weight 0.5 --model.evaluation.color y
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable

from deblur_core.cli_errors import UsageError
from deblur_core.conventions import FULL_REFERENCE_COLORS, NIQE_COLORS, FullReferenceColor, NiqeColor
from reblur.metric_names import METRIC_NAMES

PerceptualArch = Literal["vgg16", "vgg19"]
PERCEPTUAL_ARCHS: tuple[str, ...] = get_args(PerceptualArch)


@dataclass(frozen=True)
class DeblurLoss:
    r"""The objective of :math:`M_D`: :math:`\|M_D(B) - S\|_1 + \lambda \|M_R(M_D(B)) - M_R(S)\|_1
    [+ \mu \mathcal{L}_\text{VGG}]`, and what :math:`M_R` is trained on.

    Args:
        reblur_weight: :math:`\lambda`, the weight of the reblurring loss (needs a ``reblur_net``).
        pseudo_sharp: train :math:`M_R`'s sharp term on :math:`M_D(S)` (True, the paper) or on :math:`S`.
        perceptual_weight: :math:`\mu`, the weight of the VGG perceptual loss (0: off; the L1 + VGG baseline).
        perceptual_arch: ``"vgg19"`` or ``"vgg16"`` (torchvision's ImageNet weights).
        perceptual_layer: the feature layer, e.g. ``"relu5_4"`` (see :class:`reblur.losses.VGGPerceptualLoss`).
        reblur_start: the iteration from which the reblurring loss trains :math:`M_D` (0: from the start, the
            paper). :math:`M_R` trains from the first iteration either way, so a later start lets it learn the blur
            that :math:`M_D` leaves before its loss pushes :math:`M_D` (useful when fine-tuning a trained
            :math:`M_D` with a new :math:`M_R`, whose loss is meaningless until it has learned).
    """

    reblur_weight: float = 1.0
    pseudo_sharp: bool = True
    perceptual_weight: float = 0.0
    perceptual_arch: PerceptualArch = "vgg19"
    perceptual_layer: str = "relu5_4"
    reblur_start: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.reblur_start, int) or self.reblur_start < 0:
            raise UsageError(f"model.loss.reblur_start must be an integer >= 0, got {self.reblur_start!r}")
        if self.reblur_weight < 0:
            raise UsageError(f"model.loss.reblur_weight must be >= 0, got {self.reblur_weight!r}")
        if self.perceptual_weight < 0:
            raise UsageError(f"model.loss.perceptual_weight must be >= 0, got {self.perceptual_weight!r}")
        if self.perceptual_arch not in PERCEPTUAL_ARCHS:
            raise UsageError(
                f"model.loss.perceptual_arch must be one of {PERCEPTUAL_ARCHS}, got {self.perceptual_arch!r}"
            )


@dataclass(frozen=True)
class NetworkUpdates:
    """How one network (M_D or M_R) is updated.

    Args:
        optimizer: optimizer factory (in YAML ``class_path`` + ``init_args``; default ``torch.optim.Adam``).
        scheduler: learning-rate scheduler factory, stepped once per iteration (``None``: constant).
        steps: optimizer steps of this network per iteration (the paper: 1).
        grad_clip: largest gradient norm (``None``: no clipping); applied after AMP unscaling.
    """

    optimizer: OptimizerCallable = torch.optim.Adam
    scheduler: LRSchedulerCallable | None = None
    steps: int = 1
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise UsageError(f"the updates' steps must be an integer >= 1, got {self.steps!r}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise UsageError(f"the updates' grad_clip must be > 0 or null, got {self.grad_clip!r}")


@dataclass(frozen=True)
class Evaluation:
    """What validation and test report, per image then averaged (the conventions: docs/conventions.md).

    Args:
        metrics: names from :data:`reblur.metrics.METRICS` (``psnr``, ``ssim``, ``ssim_matlab``, ``lpips``,
            ``niqe``), reported as ``val/<name>`` and ``test/<name>``. With ``niqe`` the sharp targets' NIQE is
            reported too (``val/niqe_target``), computed on the first full pass over each dataset.
        crop_border: pixels dropped on every side before PSNR, SSIM and NIQE (BasicSR's ``crop_border``).
        color: what PSNR and SSIM compare: ``"rgb"`` (all channels; Nah et al.), ``"y"`` (BasicSR's and
            MATLAB ``rgb2ycbcr``'s studio-range BT.601 luma) or ``"gray"`` (MATLAB's ``rgb2gray``).
        niqe_color: the gray level NIQE scores: ``"y"`` (BasicSR's ``convert_to='y'``) or ``"gray"``
            (MATLAB's ``niqe`` of an RGB image, pyiqa's default).
    """

    metrics: tuple[str, ...] = ("psnr", "ssim", "lpips")
    crop_border: int = 0
    color: FullReferenceColor = "rgb"
    niqe_color: NiqeColor = "y"

    def __post_init__(self) -> None:
        unknown = [name for name in self.metrics if name not in METRIC_NAMES]
        if unknown:
            raise UsageError(f"model.evaluation.metrics: unknown metric(s) {unknown}; available: {list(METRIC_NAMES)}")
        if self.crop_border < 0:
            raise UsageError(f"model.evaluation.crop_border must be >= 0, got {self.crop_border!r}")
        if self.color not in FULL_REFERENCE_COLORS:
            raise UsageError(f"model.evaluation.color must be one of {FULL_REFERENCE_COLORS}, got {self.color!r}")
        if self.niqe_color not in NIQE_COLORS:
            raise UsageError(f"model.evaluation.niqe_color must be one of {NIQE_COLORS}, got {self.niqe_color!r}")
