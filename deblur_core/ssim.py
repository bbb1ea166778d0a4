r"""The SSIM map (Wang, Bovik, Sheikh and Simoncelli, IEEE TIP 2004) that every SSIM of the project is built on.

.. math::
    \mathrm{SSIM}(x, y) = \frac{(2 \mu_x \mu_y + C_1)(2 \sigma_{xy} + C_2)}
                               {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}

with local means, population variances and covariance from a normalised 2-D Gaussian window. The
SelfDeblur loss uses it with 'same'-size zero-padded filtering; the evaluation metrics (Wang's
``ssim.m``, scikit-image's convention) with 'valid' filtering. :math:`C_1, C_2` must match the data
range: :math:`(0.01 L)^2` and :math:`(0.03 L)^2` for images in :math:`[0, L]`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 2-D Gaussian window of shape ``(size, size)`` (computed in float64, then cast).

    >>> w = gaussian_window(11, 1.5, torch.float64)
    >>> w.shape, round(float(w.sum()), 12), bool(w[5, 5] == w.max())
    (torch.Size([11, 11]), 1.0, True)
    """
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).to(dtype)


def ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    c1: float = 0.01**2,
    c2: float = 0.03**2,
    padding: int | None = None,
) -> torch.Tensor:
    """SSIM map of two ``(N, C, H, W)`` batches, per channel with a Gaussian window.

    Local statistics are filtered with ``padding`` zeros on each side: ``None`` gives
    ``window_size // 2`` ('same' size, zero-padded), ``0`` gives 'valid' filtering (only windows
    inside the image). ``c1``, ``c2`` must match the data range (defaults: images in [0, 1]).

    >>> x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    >>> ssim_map(x, x, padding=0).shape, bool(torch.allclose(ssim_map(x, x), torch.ones((), dtype=x.dtype)))
    (torch.Size([1, 1, 6, 6]), True)
    """
    c = x.shape[1]
    window = gaussian_window(window_size, sigma, x.dtype).to(x.device).expand(c, 1, window_size, window_size)
    pad = window_size // 2 if padding is None else padding

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, padding=pad, groups=c)

    return ssim_from_local_means(x, y, filt, c1, c2)


def ssim_from_local_means(
    x: torch.Tensor,
    y: torch.Tensor,
    filt: Callable[[torch.Tensor], torch.Tensor],
    c1: float = 0.01**2,
    c2: float = 0.03**2,
) -> torch.Tensor:
    """The SSIM map from the local means ``filt(.)`` of ``x``, ``y``, their squares and their product:
    :func:`ssim_map` with its Gaussian filtering, or any other."""
    return ssim_from_moments(filt(x), filt(y), filt(x * x), filt(y * y), filt(x * y), c1, c2)


def ssim_from_moments(
    mu_x: torch.Tensor,
    mu_y: torch.Tensor,
    mean_xx: torch.Tensor,
    mean_yy: torch.Tensor,
    mean_xy: torch.Tensor,
    c1: float = 0.01**2,
    c2: float = 0.03**2,
) -> torch.Tensor:
    """The SSIM formula (module docstring) from local means of x, y, x², y² and xy (population variances and
    covariance), whatever window made them."""
    var_x, var_y, cov = mean_xx - mu_x**2, mean_yy - mu_y**2, mean_xy - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
