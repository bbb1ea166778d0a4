"""Putting a benchmark's ground-truth kernel in convolution orientation, by the blur it explains."""

from __future__ import annotations

import torch

from deblur_core.blur import convolve_valid
from selfdeblur.metrics import aligned_psnr


def orient_true_kernel(blurry: torch.Tensor, sharp: torch.Tensor, kernel: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Return ``kernel`` in convolution orientation for this blurry/sharp pair, and whether it was rotated.

    The kernel files of the Levin et al. data as distributed by the SelfDeblur authors are not stored
    in one orientation: convolving ``gt/imI.png`` with ``gt/kernelK.png`` reproduces the blurry images
    of kernels 4 and 8, while kernels 1, 2, 3, 5, 6 and 7 must be rotated by 180 degrees first (measured
    on all 32 pairs; docs/performance_log.md). So the orientation is chosen by the data: of the kernel and its
    rotation, the one whose 'valid' convolution of the sharp image is closer to the blurry image (best
    integer shift within 4 px) is in convolution orientation.
    """
    margin = (kernel.shape[-1] - 1) // 2
    h, w = blurry.shape[-2:]
    target = blurry[..., margin : h - margin, margin : w - margin]

    def fit(candidate: torch.Tensor) -> float:
        return aligned_psnr(convolve_valid(sharp.unsqueeze(0), candidate)[0], target, 4)[0]

    rotated = kernel.flip(-2, -1)
    return (rotated, True) if fit(rotated) > fit(kernel) else (kernel, False)
