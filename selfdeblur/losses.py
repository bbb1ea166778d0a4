r"""Losses of SelfDeblur: the data-fidelity schedule (MSE, then 1 - SSIM) and total variation.

The SSIM here is the one the SelfDeblur authors optimise: an 11x11 Gaussian window with
:math:`\sigma = 1.5`, constants :math:`C_1 = 0.01^2`, :math:`C_2 = 0.03^2` (images in [0, 1]),
local statistics computed with 'same'-size **zero-padded** filtering (:func:`deblur_core.ssim.ssim_map`),
and the SSIM map averaged over all pixels. It is a training loss; evaluation metrics live elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from deblur_core.ssim import ssim_map


def ssim(x: torch.Tensor, y: torch.Tensor, window_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of two ``(N, C, H, W)`` batches in [0, 1] (zero-padded 'same' filtering)."""
    return ssim_map(x, y, window_size, sigma).mean()


def total_variation(x: torch.Tensor, norm: str = "l1") -> torch.Tensor:
    r"""Anisotropic total variation of ``(N, C, H, W)`` images, averaged over differences.

    ``"l1"``: :math:`\mathrm{mean}|\nabla_h x| + \mathrm{mean}|\nabla_v x|` (the usual TV of Eq. 6
    of the paper); ``"l2"``: the squared differences instead, the form of the authors' released
    ``TVLoss`` up to its factor 2.
    """
    dh = x[..., :, 1:] - x[..., :, :-1]
    dv = x[..., 1:, :] - x[..., :-1, :]
    if norm == "l1":
        return dh.abs().mean() + dv.abs().mean()
    if norm == "l2":
        return (dh**2).mean() + (dv**2).mean()
    raise ValueError(f"tv_norm must be 'l1' or 'l2', got {norm!r}")


def data_fidelity(prediction: torch.Tensor, target: torch.Tensor, step: int, mse_steps: int) -> torch.Tensor:
    """SelfDeblur's schedule: MSE for the first ``mse_steps`` steps (0-based), then ``1 - SSIM``."""
    if step < mse_steps:
        return F.mse_loss(prediction, target)
    return 1 - ssim(prediction, target)


def learning_rate(base: float, step: int, milestones: Sequence[int], gamma: float) -> float:
    """Learning rate at a 0-based ``step``: ``base * gamma ** (number of milestones <= step)``.

    This is the closed form of :class:`torch.optim.lr_scheduler.MultiStepLR` as the reference
    script drives it (``scheduler.step(step)`` before each update).
    """
    return base * math.pow(gamma, sum(1 for m in milestones if m <= step))
