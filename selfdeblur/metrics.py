"""Quick, shift-tolerant comparisons of an estimate with a known truth.

Blind deconvolution recovers the image and kernel only up to a translation (shifting the kernel
one way and the image the other gives the same blur), so comparisons search over integer shifts.
These are the figures printed after each solved image; the full Levin et al. protocol (sub-pixel
alignment, error ratios) is a separate evaluation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def aligned_psnr(estimate: torch.Tensor, truth: torch.Tensor, max_shift: int = 5) -> tuple[float, tuple[int, int]]:
    """Best PSNR (data range 1) over integer shifts of ``estimate`` within ``[-max_shift, max_shift]``.

    Both are ``(C, H, W)``; the comparison uses ``truth`` without a ``max_shift`` border.

    Returns:
        ``(psnr_db, (dy, dx))``: the best PSNR (``inf`` for a perfect match) and the shift of the
        estimate that achieves it.
    """
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate {tuple(estimate.shape)} and truth {tuple(truth.shape)} differ in shape")
    h, w = truth.shape[-2:]
    m = max_shift
    if h <= 2 * m or w <= 2 * m:
        raise ValueError(f"image {h}x{w} too small for max_shift {m}")
    core = truth[..., m : h - m, m : w - m].double()
    best, best_shift = math.inf, (0, 0)
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            moved = estimate[..., m + dy : h - m + dy, m + dx : w - m + dx].double()
            mse = float(((moved - core) ** 2).mean())
            if mse < best:
                best, best_shift = mse, (dy, dx)
    return (math.inf if best == 0 else -10 * math.log10(best)), best_shift


def kernel_distance(estimate: torch.Tensor, truth: torch.Tensor, max_shift: int = 5) -> float:
    """Smallest L2 distance between two kernels over integer shifts within ``[-max_shift, max_shift]``.

    Kernels may differ in size; both are centred on a common zero-padded canvas.
    """
    size = max(estimate.shape[-1], truth.shape[-1], estimate.shape[-2], truth.shape[-2]) + 2 * max_shift

    def canvas(k: torch.Tensor) -> torch.Tensor:
        top, left = (size - k.shape[-2]) // 2, (size - k.shape[-1]) // 2
        return F.pad(k.double(), (left, size - k.shape[-1] - left, top, size - k.shape[-2] - top))

    e, t = canvas(estimate), canvas(truth)
    best = math.inf
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            best = min(best, float(torch.linalg.norm(torch.roll(e, (dy, dx), dims=(-2, -1)) - t)))
    return best
