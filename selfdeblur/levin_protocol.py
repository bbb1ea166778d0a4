"""Levin et al.'s evaluation protocol as the SelfDeblur authors run it (``statistic/comp_upto_shift.m``).

Blind deconvolution recovers an image only up to a small translation, so the estimate is aligned
to the ground truth before it is scored:

1. the ground truth loses a ``border`` of 15 px on every side (255x255 -> 225x225);
2. the estimate is sampled at every shift in ``[-max_shift, max_shift]`` px in x and y, in steps of
   ``step`` = 0.25 px, with bilinear interpolation (MATLAB ``interp2``), and the shift with the
   smallest sum of squared differences (SSD) to the cropped truth is kept;
3. PSNR with peak 255 on the aligned images (``psnr.m``: ``10 log10(255^2 / MSE)``, no rounding);
   SSIM as Wang et al.'s reference ``ssim.m`` (11x11 Gaussian window, sigma 1.5, K = (0.01, 0.03),
   L = 255, 'valid' filtering, mean of the map);
4. error ratio (``statistic_levin.m``): ``||x_est - x||_2 / ||x_gtk - x||_2`` on the aligned images,
   where ``x_gtk`` is the non-blind deconvolution with the ground-truth kernel and ``||.||_2`` is
   MATLAB's ``norm`` of a matrix, its largest singular value. Levin et al.'s original ratio (CVPR
   2009) is the ratio of SSDs; :func:`error_ratios` returns both.

All images here are ``(H, W)`` float tensors in [0, 1] (one channel: Levin's images are grayscale;
Lai et al.'s are scored on their Y channel). Computations run in float64.

Example:
    >>> truth = torch.rand(60, 60, dtype=torch.float64)
    >>> moved = torch.roll(truth, shifts=(1, -2), dims=(0, 1))  # the truth moved by (1, -2) px
    >>> aligned = align_upto_shift(moved, truth, max_shift=3, border=5)
    >>> aligned.shift, round(aligned.ssd, 12)
    ((1.0, -2.0), 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deblur_core.ssim import ssim_map

LEVIN_BORDER = 15
LEVIN_MAX_SHIFT = 10
LEVIN_SHIFT_STEP = 0.25


@dataclass
class Aligned:
    """The estimate at its best shift: ``image`` is the aligned estimate and ``truth`` the cropped truth,
    both ``(H - 2 border, W - 2 border)``; ``shift`` is ``(dy, dx)`` in pixels (the estimate's content at
    ``p + shift`` lands at ``p``); ``ssd`` their sum of squared differences."""

    image: torch.Tensor
    truth: torch.Tensor
    shift: tuple[float, float]
    ssd: float


def _shift_1d(x: torch.Tensor, offset: float, length: int, dim: int) -> torch.Tensor:
    """``out[..., i, ...] = x[..., offset + i, ...]`` along ``dim``, linearly interpolated for a fractional
    ``offset`` (within ``[0, x.shape[dim] - length]``). Slices, not gathers: the 81 x 81 shifts of a photo stay fast."""
    base = math.floor(offset)
    frac = offset - base
    lower = x.narrow(dim, base, length)
    if frac == 0:
        return lower
    return (1 - frac) * lower + frac * x.narrow(dim, base + 1, length)


def align_upto_shift(
    estimate: torch.Tensor,
    truth: torch.Tensor,
    max_shift: float = LEVIN_MAX_SHIFT,
    step: float = LEVIN_SHIFT_STEP,
    border: int = LEVIN_BORDER,
) -> Aligned:
    """Align ``estimate`` to ``truth`` as ``comp_upto_shift.m`` does (see the module docstring).

    Args:
        estimate, truth: ``(H, W)`` in [0, 1], the same size.
        max_shift: largest shift tried in each direction, in pixels (at most ``border``).
        step: spacing of the shifts tried (``max_shift`` must be a multiple of it).
        border: pixels cropped from each side of the truth.

    Ties between shifts go to the first in MATLAB's order (x-shift fastest, as ``find`` on the SSD table).
    """
    if estimate.shape != truth.shape or estimate.dim() != 2:
        raise ValueError(f"estimate {tuple(estimate.shape)} and truth {tuple(truth.shape)} must be equal (H, W)")
    count = round(2 * max_shift / step) + 1
    if abs((count - 1) * step - 2 * max_shift) > 1e-9 or max_shift < 0:
        raise ValueError(f"max_shift {max_shift} must be a non-negative multiple of step {step}")
    if max_shift > border:
        raise ValueError(f"max_shift {max_shift} must not exceed the border {border}")
    h, w = truth.shape
    if h <= 2 * border or w <= 2 * border:
        raise ValueError(f"image {h}x{w} is too small for a {border} px border")
    x = estimate.double()
    core = truth.double()[border : h - border, border : w - border]
    ch, cw = core.shape
    m = math.ceil(max_shift)
    window = x[border - m : h - border + m, border - m : w - border + m]  # MATLAB's I1 crop
    shifts = torch.linspace(-max_shift, max_shift, count, dtype=torch.float64)
    offsets = shifts + m  # index into the window of the truth's first pixel, per shift
    ssd = torch.empty(count, count, dtype=torch.float64)  # [y-shift, x-shift]
    for j, x_offset in enumerate(offsets.tolist()):
        across = _shift_1d(window, x_offset, cw, dim=1)  # (rows, cw) at x-shift j
        for i, y_offset in enumerate(offsets.tolist()):
            ssd[i, j] = ((_shift_1d(across, y_offset, ch, dim=0) - core) ** 2).sum()
    # MATLAB: ssdem(i, j) with i the x-shift; find() scans column-major, i.e. i (x) fastest.
    flat = int(torch.argmin(ssd.reshape(-1)))
    iy, ix = divmod(flat, count)
    rows = _shift_1d(window, float(offsets[ix]), cw, dim=1)
    aligned = _shift_1d(rows, float(offsets[iy]), ch, dim=0).contiguous()
    return Aligned(aligned, core, (float(shifts[iy]), float(shifts[ix])), float(ssd[iy, ix]))


def psnr_255(image: torch.Tensor, truth: torch.Tensor) -> float:
    """``psnr.m`` on images scaled by 255: ``10 log10(255^2 / mean((255 a - 255 b)^2))``, no rounding."""
    mse = float(((255 * image.double() - 255 * truth.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def ssim_wang(image: torch.Tensor, truth: torch.Tensor, peak: float = 255.0) -> float:
    """Wang et al.'s ``ssim.m`` on images scaled by ``peak``: 11x11 Gaussian (sigma 1.5), K = (0.01, 0.03),
    L = ``peak``, 'valid' filtering, the mean of the SSIM map (:func:`selfdeblur.losses.ssim_map`)."""
    a = (peak * image.double())[None, None]
    b = (peak * truth.double())[None, None]
    return float(ssim_map(a, b, c1=(0.01 * peak) ** 2, c2=(0.03 * peak) ** 2, padding=0).mean())


def error_ratios(estimate: Aligned, known_kernel: Aligned) -> dict[str, float]:
    """Error ratios of an aligned estimate against the aligned ground-truth-kernel deconvolution.

    ``error_ratio``: ``||e||_2 / ||g||_2`` with MATLAB's matrix 2-norm (largest singular value), as
    ``statistic_levin.m``; ``ssd_ratio``: ``||e||_F^2 / ||g||_F^2``, Levin et al.'s (CVPR 2009) ratio of
    SSDs. ``e`` and ``g`` are the two images minus the cropped truth.
    """
    e = estimate.image - estimate.truth
    g = known_kernel.image - known_kernel.truth
    spectral = float(torch.linalg.matrix_norm(e, ord=2) / torch.linalg.matrix_norm(g, ord=2))
    return {"error_ratio": spectral, "ssd_ratio": float(e.square().sum() / g.square().sum())}


def kernel_similarity(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    """Largest normalised cross-correlation of two kernels over all relative shifts (Hu and Yang, ECCV
    2012: 1 for equal kernels up to a shift, lower the more they differ). Kernels ``(k, k)`` and
    ``(k', k')`` in the same orientation; sizes may differ."""
    a, b = estimate.double(), truth.double()
    a = a / a.norm()
    b = b / b.norm()
    padded = F.pad(a[None, None], (b.shape[1] - 1,) * 2 + (b.shape[0] - 1,) * 2)
    return float(F.conv2d(padded, b[None, None]).max())
