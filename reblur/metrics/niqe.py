r"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, IEEE SPL 2013), in torch.

A no-reference metric: lower is better. It follows the authors' MATLAB release (``computequality.m``
with ``blocksizerow = blocksizecol = 96``, ``blockrowoverlap = blockcoloverlap = 0``) and its
pristine-image model ``modelparameters.mat`` (shipped here as ``niqe_pris_params.npz``, the copy
distributed by BasicSR, ``basicsr/metrics/niqe_pris_params.npz``):

1. **Gray level.** The image is quantised to 8-bit levels (the reference reads 8-bit images), then a colour
   image is converted by the ``color`` convention and rounded to integers, as MATLAB does for ``uint8``
   images: ``"y"`` (default; BasicSR's ``convert_to='y'``), the luma of ITU-R BT.601 of MATLAB's ``rgb2ycbcr``,
   :math:`Y = 16 + 65.481 R + 128.553 G + 24.966 B` with :math:`R, G, B \in [0, 1]`; or ``"gray"``,
   MATLAB's ``rgb2gray`` (:func:`deblur_core.color.rgb_to_gray`), which MATLAB's own ``niqe`` applies to RGB
   images. One-channel inputs are taken as the gray level. No border is cropped unless ``crop_border``
   says so; the image is then cut to whole 96x96 blocks from the top-left corner.
2. **Two scales.** At each scale the MSCN coefficients
   :math:`\hat I = (I - \mu) / (\sigma + 1)` are computed with the 7x7 Gaussian window
   (:math:`\sigma = 7/6`, 'replicate' borders as MATLAB's ``imfilter(..., 'replicate')``), and each
   block (96x96, then 48x48) gives 18 features: a GGD fit (shape, spread) of the coefficients and, for
   the products with the four neighbours (right, down, down-right, down-left), AGGD fits (shape, mean,
   left and right spreads), by the moment-matching search over shapes 0.2:0.001:10 of the release.
   The second scale is MATLAB's ``imresize(im, 0.5)``: bicubic with antialiasing (reproduced in
   :func:`matlab_imresize`).
3. **Distance.** A multivariate Gaussian is fitted to the 36-dimensional block features (undefined
   features are left out, as ``nanmean``/``nancov``; an undefined fit, one side of the coefficients empty as in
   a wholly flat block, still has shape 0.2, the first of the grid, as MATLAB's ``min`` over NaNs gives, and
   ``nanmean`` averages it in) and compared with the pristine model:
   :math:`\sqrt{(\nu_1 - \nu_2)^T \left(\frac{\Sigma_1 + \Sigma_2}{2}\right)^{+} (\nu_1 - \nu_2)}`.

Reference: MATLAB R2021a's value on ``data/niqe/baboon.png`` (Y channel, no crop), which
``tests/reblur/test_niqe.py`` checks to 1e-5 (the agreement measured, and other implementations', are in
docs/conventions.md). The last digits depend on exact zeros: in flat 7x7 neighbourhoods the local mean
equals the gray level, the MSCN coefficient is 0 and the AGGD fit counts it on neither side. MATLAB's
``imfilter`` filters a separable kernel as two 1-D passes, and so does :func:`_mscn`, summed around the centre
pixel so that a flat neighbourhood gives exactly 0 at every gray level; a 2-D 7x7 filtering leaves residues of
1e-15 there, which are then counted on one side (what the counting changes, on images with large flat regions,
and the tolerance to expect against MATLAB: docs/results/niqe_flat_regions.md). Other devices may round
differently. Everything runs in float64 on the device of the input, batched over images of one size (on CPU one
image at a time, see :func:`niqe`).
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import Metric

from deblur_core.color import to_luma
from deblur_core.conventions import NIQE_COLORS

BLOCK = 96
_SHAPES = torch.arange(0.2, 10.0005, 0.001, dtype=torch.float64)  # the release's gam = 0.2:0.001:10


@lru_cache(maxsize=1)
def pristine_model() -> dict[str, torch.Tensor]:
    """``mu`` (36,), ``cov`` (36, 36) and the 7x7 ``window`` of the NIQE authors' pristine model (float64)."""
    with resources.files("reblur.metrics").joinpath("niqe_pris_params.npz").open("rb") as f:
        params = np.load(f)
        return {
            "mu": torch.from_numpy(params["mu_pris_param"].reshape(-1).copy()),
            "cov": torch.from_numpy(params["cov_pris_param"].copy()),
            "window": torch.from_numpy(params["gaussian_window"].copy()),
        }


def _shape_ratio(shape: torch.Tensor) -> torch.Tensor:
    """:math:`\\Gamma(2/a)^2 / (\\Gamma(1/a) \\Gamma(3/a))`, the moment ratio the shape search matches."""
    return torch.exp(2 * torch.lgamma(2 / shape) - torch.lgamma(1 / shape) - torch.lgamma(3 / shape))


_RATIOS = _shape_ratio(_SHAPES)  # fixed table of the shape search, computed once


def nearest_ratio_index(ratio: torch.Tensor) -> torch.Tensor:
    """Index in the shape grid of the table ratio nearest to each ``ratio`` (the first one on ties).

    The release takes ``argmin((table - r)^2)`` over the 9801 grid shapes. The ratio grows with the
    shape, so a binary search and a look at both neighbours give the same index without the
    ``(values x 9801)`` difference table, which made large batches memory-bound.
    """
    ratios = _RATIOS.to(ratio.device)
    upper = torch.searchsorted(ratios, ratio.contiguous()).clamp(1, len(ratios) - 1)
    lower = upper - 1
    return torch.where((ratio - ratios[lower]).abs() <= (ratios[upper] - ratio).abs(), lower, upper)


def aggd_fit(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric generalised Gaussian fit of each row of ``values`` (B, M): shape, left and right spreads.

    Rows without negative (or positive) values give a NaN spread on that side and shape 0.2, as the release:
    its ``min`` over an all-NaN difference vector returns index 1.
    """
    negative, positive = values < 0, values > 0
    left_std = torch.sqrt((values.square() * negative).sum(1) / negative.sum(1))
    right_std = torch.sqrt((values.square() * positive).sum(1) / positive.sum(1))
    gamma_hat = left_std / right_std
    r_hat = values.abs().mean(1).square() / values.square().mean(1)
    r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    index = torch.where(torch.isfinite(r_hat_norm), nearest_ratio_index(r_hat_norm), 0)
    shape = _SHAPES.to(values.device)[index]
    scale = torch.exp(0.5 * (torch.lgamma(1 / shape) - torch.lgamma(3 / shape)))
    return shape, left_std * scale, right_std * scale


def block_features(blocks: torch.Tensor) -> torch.Tensor:
    """The 18 NIQE features of each MSCN block ``(B, h, w)`` -> ``(B, 18)``."""
    flat = blocks.flatten(1)
    shape, left, right = aggd_fit(flat)
    features = [shape, (left + right) / 2]
    # Neighbour products with circular shifts, as the release's circshift: right, down, down-right, down-left.
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        product = (blocks * torch.roll(blocks, shifts=shift, dims=(1, 2))).flatten(1)
        shape, left, right = aggd_fit(product)
        mean = (right - left) * torch.exp(torch.lgamma(2 / shape) - torch.lgamma(1 / shape))
        features += [shape, mean, left, right]
    return torch.stack(features, dim=1)


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's bicubic kernel (a = -0.5)."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def _resize_matrix(in_length: int, scale: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(out, in)`` matrix of MATLAB ``imresize`` along one axis (bicubic, antialiasing when shrinking)."""
    out_length = math.ceil(in_length * scale)
    kernel_width = 4.0 / scale if scale < 1 else 4.0
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(distance * scale) if scale < 1 else _cubic(distance)
    weights = weights / weights.sum(1, keepdim=True)
    # Out-of-range taps are mirrored (MATLAB: symmetric padding, edge pixel repeated).
    mirror = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    columns = mirror[(indices.long() - 1) % (2 * in_length)]
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, columns, weights)
    return matrix.to(dtype=dtype, device=device)


def matlab_imresize(images: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize(images, scale)`` (bicubic, antialiasing) of ``(..., H, W)`` float images."""
    height, width = images.shape[-2:]
    rows = _resize_matrix(height, scale, images.dtype, images.device)
    cols = _resize_matrix(width, scale, images.dtype, images.device)
    return rows @ images @ cols.T


def gray_levels(images: torch.Tensor, crop_border: int = 0, color: str = "y") -> torch.Tensor:
    """``(N, C, H, W)`` in [0, 1] (C = 1 or 3) -> ``(N, H', W')`` integer gray levels in [0, 255] (float64);
    ``color`` is ``"y"`` or ``"gray"`` (module docstring).

    The input is first quantised to 8-bit levels, as the reference reads 8-bit files; so an 8-bit image
    gives the same gray levels whether it arrives as float32 or float64 (float32's k/255 is not exact,
    and the luma of a few pixels would round the other way).
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"NIQE needs (N, 1 or 3, H, W) images, got {tuple(images.shape)}")
    if color not in NIQE_COLORS:
        raise ValueError(f"NIQE colour convention must be one of {NIQE_COLORS}, got {color!r}")
    levels = (images.double().clamp(0, 1) * 255).round()
    gray = to_luma(levels, color, data_range=255)[:, 0]
    if crop_border:
        gray = gray[:, crop_border:-crop_border, crop_border:-crop_border]
    return gray.round()


def _mscn(gray: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """MSCN coefficients of ``(N, H, W)`` gray levels with the model's 7x7 Gaussian ``window``.

    The window is an outer product of a normalised 1-D Gaussian (to 1e-16), so the local means are
    two 7-tap passes, columns then rows, each a weighted sum of shifted views: float64 convolution has
    no fast kernel on CPU, and these sums beat ``conv2d`` with the same 1-D taps (docs/performance.md, NIQE).
    """
    pad = window.shape[-1] // 2
    taps = window.sum(1).to(gray).tolist()  # the 1-D factor: row sums of g g^T are g, as sum(g) = 1
    height, width = gray.shape[-2:]
    padded = F.pad(gray[:, None], (pad, pad, pad, pad), mode="replicate")[:, 0]  # replicate commutes with squaring
    local = torch.cat([padded, padded.square()])
    # Each pass is c + sum_k t_k (x_k - c) around the centre pixel c: the same weighted mean (the taps sum to 1),
    # but a flat run of 7 gives c bit for bit, so a flat 7x7 neighbourhood has mu equal to its gray level and an
    # MSCN coefficient of exactly 0 at every level. A plain sum_k t_k x_k returns a flat level only where the
    # rounding errors happen to cancel (not at 235 or 255: white in Y and in gray).
    centre = local[:, pad : pad + height, :]
    local = centre + sum(tap * (local[:, k : k + height, :] - centre) for k, tap in enumerate(taps) if k != pad)
    centre = local[:, :, pad : pad + width]
    local = centre + sum(tap * (local[:, :, k : k + width] - centre) for k, tap in enumerate(taps) if k != pad)
    mu, mean_square = local.split(gray.shape[0])
    sigma = torch.sqrt((mean_square - mu.square()).abs())
    return (gray - mu) / (sigma + 1)


def _blocks(mscn: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, H, W)`` -> ``(N, blocks, size, size)`` in MATLAB's column-major block order."""
    n, height, width = mscn.shape
    tiles = mscn.reshape(n, height // size, size, width // size, size).permute(0, 3, 1, 2, 4)
    return tiles.reshape(n, -1, size, size)


def niqe(images: torch.Tensor, crop_border: int = 0, chunk_size: int | None = None, color: str = "y") -> torch.Tensor:
    """NIQE of each ``(N, C, H, W)`` image in [0, 1] (C = 1 or 3) -> ``(N,)``; lower is better.

    Images must be at least 96x96 after ``crop_border``. See the module docstring for the protocol and
    ``color`` (``"y"`` or ``"gray"``).
    ``chunk_size`` images are processed together (default: 1 on CPU, all on other devices): on CPU the
    float64 intermediates of a batch outgrow the caches, and one by one is faster per image
    (docs/performance.md, NIQE).
    """
    if chunk_size is None:
        chunk_size = 1 if images.device.type == "cpu" else max(len(images), 1)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    scores = torch.cat([_niqe_chunk(chunk, crop_border, color) for chunk in images.split(chunk_size)])
    return scores.to(images.dtype if images.is_floating_point() else torch.float64)


def mscn_scales(gray: torch.Tensor) -> list[torch.Tensor]:
    """The MSCN coefficients of ``(N, H, W)`` gray levels in [0, 255], cut to whole 96x96 blocks from the
    top-left, at NIQE's two scales: ``[(N, 96 r, 96 c), (N, 48 r, 48 c)]``."""
    rows, cols = gray.shape[1] // BLOCK, gray.shape[2] // BLOCK
    gray = gray[:, : rows * BLOCK, : cols * BLOCK]
    window = pristine_model()["window"].to(gray.device)
    # The second scale is resized on the levels themselves, as the release: /255 and *255 would move flat areas
    # off their level.
    return [_mscn(gray, window), _mscn(matlab_imresize(gray, 0.5), window)]


def _niqe_chunk(images: torch.Tensor, crop_border: int, color: str) -> torch.Tensor:
    gray = gray_levels(images, crop_border, color)
    n, height, width = gray.shape
    rows, cols = height // BLOCK, width // BLOCK
    if rows == 0 or cols == 0:
        raise ValueError(f"NIQE needs images of at least {BLOCK}x{BLOCK}, got {height}x{width}")
    per_scale = []
    for scale, mscn in enumerate(mscn_scales(gray), start=1):
        blocks = _blocks(mscn, BLOCK // scale)
        per_scale.append(block_features(blocks.flatten(0, 1)).reshape(n, rows * cols, 18))
    features = torch.cat(per_scale, dim=2)  # (N, blocks, 36)
    model = pristine_model()

    mu_pristine, cov_pristine = model["mu"].to(gray.device), model["cov"].to(gray.device)
    scores = []
    for image_features in features:
        # MATLAB's nanmean (per feature) and nancov (complete rows only).
        finite = torch.isfinite(image_features)
        mu = torch.where(finite, image_features, 0).sum(0) / finite.sum(0)
        complete = image_features[finite.all(1)]
        if len(complete) == 0:
            raise ValueError("NIQE is undefined for this image: no 96x96 block has finite features (flat image?)")
        # MATLAB's cov of a single observation is 0 (torch.cov would give NaN for one 96x96 block).
        cov = torch.cov(complete.T) if len(complete) > 1 else torch.zeros_like(cov_pristine)
        difference = (mu_pristine - mu)[None]
        inverse = torch.linalg.pinv((cov_pristine + cov) / 2)
        scores.append(torch.sqrt(difference @ inverse @ difference.T)[0, 0])
    return torch.stack(scores)


class NIQE(Metric):
    """Mean NIQE over all images seen (sum and count reduced across processes); lower is better.

    ``update(images)`` takes ``(N, C, H, W)`` batches in [0, 1]; ``color`` as :func:`niqe`.
    """

    higher_is_better = False
    full_state_update = False
    # States (add_state), declared for type checkers.
    total: torch.Tensor
    count: torch.Tensor

    def __init__(self, crop_border: int = 0, color: str = "y", **kwargs) -> None:
        super().__init__(**kwargs)
        if color not in NIQE_COLORS:
            raise ValueError(f"NIQE colour convention must be one of {NIQE_COLORS}, got {color!r}")
        self.crop_border = crop_border
        self.color = color
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, images: torch.Tensor) -> None:
        self.total += niqe(images, self.crop_border, color=self.color).double().sum()
        self.count += images.shape[0]

    def compute(self) -> torch.Tensor:
        return self.total / self.count
