r"""The full-resolution image of the fast mode: non-blind deconvolution of every colour channel with the kernel.

With the kernel :math:`h` estimated on the reduced problem (:mod:`selfdeblur.reduced_problem`), each channel
:math:`y_c` of the blurry photo is deconvolved by :func:`~selfdeblur.sparse_deconvolution.deconvolve_sparse`
(hyper-Laplacian prior, the solver of SelfDeblur-Delta), with what real photos need:

- **boundaries**: the solver's 'valid' model estimates a latent image larger than the photo by :math:`k - 1`, so
  nothing is assumed beyond the photo's edges (no periodic or reflected extension, hence no ringing from them);
  the result is its centre ``H x W``;
- **saturated pixels** (any channel at or above ``saturation``, where the sensor clipped and :math:`y = h * x`
  does not hold) are left out of the data term, as are their neighbours within one pixel; the prior fills in;
- **noise**: with ``smoothness="auto"`` the prior weight follows the photo's noise level (:func:`smoothness_for`);
- **size**: tiles of ``tile x tile`` photo pixels, each solved with a margin of ``2 k`` pixels of its
  neighbours, and only its own pixels kept, so memory is bounded by the tile whatever the photo's size; float32
  arithmetic (on a 300x300 Kodak crop with a 25 px kernel and 1% noise, the same PSNR as float64 to 0.001 dB).

Example:
    >>> from deblur_core.blur import convolve_valid
    >>> sharp = torch.rand(3, 48, 48)
    >>> kernel = torch.full((5, 5), 1 / 25)
    >>> blurry = convolve_valid(sharp[None], kernel)[0]  # (3, 44, 44)
    >>> deconvolve_photo(blurry, kernel, cg_iterations=10, tile=32).shape
    torch.Size([3, 44, 44])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deblur_core.crop import center_crop
from selfdeblur.noise_level import estimate_noise_sigma
from selfdeblur.sparse_deconvolution import deconvolve_sparse

SMOOTHNESS_FLOOR = 0.002
SMOOTHNESS_GAIN = 20.0


def smoothness_for(blurry: torch.Tensor, smoothness: float | str) -> float:
    """The prior weight :math:`w_e` to deconvolve ``blurry`` (``(C, H, W)`` in [0, 1]) with: ``smoothness`` itself,
    or for ``"auto"``, :math:`\\max(0.002, 20 \\sigma^2)` with :math:`\\sigma` the median over the channels of
    their estimated noise level (:func:`~selfdeblur.noise_level.estimate_noise_sigma`, on the centre 1024x1024 at
    most: a million samples per channel, and memory bounded whatever the photo's size).

    The quadratic law is the MAP weighting of the squared data term against the prior, as for SelfDeblur's TV
    weight (the paper's Eq. 6). The gain of 20 gives 1% noise the weight tuned at 1% noise (0.002); the floor
    stands for the estimated kernel's own error, which is there at any noise level (Lai et al.'s images and the
    shipped photos estimate 0.1-0.2%, so they get the floor). Measured in docs/results/selfdeblur_fast.md.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> noisy = 0.5 + 0.02 * torch.randn(3, 128, 128, generator=g)
        >>> round(smoothness_for(noisy, "auto"), 3), smoothness_for(noisy, 0.001)  # 20 * 0.02 ** 2
        (0.008, 0.001)
        >>> smoothness_for(torch.full((3, 64, 64), 0.5), "auto")  # no noise: the floor
        0.002
    """
    if smoothness != "auto":
        return float(smoothness)
    h, w = blurry.shape[-2:]
    centre = center_crop(blurry, min(h, 1024), min(w, 1024))
    sigma = float(estimate_noise_sigma(centre.float()).median())
    return max(SMOOTHNESS_FLOOR, SMOOTHNESS_GAIN * sigma**2)


def saturation_mask(blurry: torch.Tensor, saturation: float) -> torch.Tensor:
    """``(H, W)`` weights: 0 at and next to pixels with any channel ``>= saturation``, 1 elsewhere."""
    clipped = (blurry >= saturation).any(dim=0).float()
    near = F.max_pool2d(clipped[None, None], 3, stride=1, padding=1)[0, 0]
    return 1 - near


def tile_margin(kernel_size: int) -> int:
    """Pixels of its neighbours each tile is solved with, on every side: ``2 k``."""
    return 2 * kernel_size


def tile_starts(length: int, tile: int) -> list[int]:
    """Starts of the tiles that cover ``range(length)`` in pieces of at most ``tile``."""
    return list(range(0, length, tile)) if length > tile else [0]


def deconvolve_photo(
    blurry: torch.Tensor,
    kernel: torch.Tensor,
    smoothness: float | str = 0.002,
    saturation: float = 0.98,
    tile: int = 1024,
    cg_iterations: int = 50,
    irls_steps: int = 2,
) -> torch.Tensor:
    """Non-blind deconvolution of a photo (see the module docstring).

    Args:
        blurry: ``(C, H, W)`` in [0, 1] (C = 1 or 3).
        kernel: ``(k, k)``, convolution orientation, non-negative (normalised to sum 1).
        smoothness: prior weight :math:`w_e` of :func:`~selfdeblur.sparse_deconvolution.deconvolve_sparse`, or
            ``"auto"`` (:func:`smoothness_for`).
        saturation: pixel value from which a pixel counts as clipped (> 1: none does).
        tile: side of the tiles in photo pixels.
        cg_iterations, irls_steps: of the solver, per tile (50 conjugate-gradient iterations per solve: 0.03 dB
            below 100 on that crop).

    Returns:
        ``(C, H, W)`` in [0, 1], float32, aligned with ``blurry``.
    """
    if blurry.dim() != 3 or kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(
            f"blurry (C, H, W) and an odd square kernel (k, k) expected, got {tuple(blurry.shape)} "
            f"and {tuple(kernel.shape)}"
        )
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    c, height, width = blurry.shape
    k = kernel.shape[0]
    half = (k - 1) // 2
    margin = tile_margin(k)
    smoothness = smoothness_for(blurry, smoothness)  # once for the photo, not per tile
    weights = saturation_mask(blurry, saturation)
    out = torch.empty(c, height, width)
    for top in tile_starts(height, tile):
        for left in tile_starts(width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            t0, l0 = max(0, top - margin), max(0, left - margin)
            t1, l1 = min(height, bottom + margin), min(width, right + margin)
            piece = blurry[:, t0:t1, l0:l1]
            mask = weights[t0:t1, l0:l1].expand(c, -1, -1)
            latent = deconvolve_sparse(
                piece,
                kernel,
                smoothness=smoothness,
                cg_iterations=cg_iterations,
                irls_steps=irls_steps,
                data_weight=mask,
                dtype=torch.float32,
            )
            # The latent of the blurry crop starting at row t0 starts at row t0 - half of the photo.
            rows = slice(top - t0 + half, bottom - t0 + half)
            cols = slice(left - l0 + half, right - l0 + half)
            out[:, top:bottom, left:right] = latent[:, rows, cols].float()
    return out.clamp_(0, 1)
