r"""The uniform-blur forward model and the kernel orientation convention.

SelfDeblur generates a latent image :math:`x` of size :math:`(H + k - 1) \times (W + k - 1)` and
a :math:`k \times k` filter :math:`f` and models the blurry image of size :math:`H \times W` as the
"valid" 2-D **correlation**

.. math::
    y[i, j] = \sum_{a=0}^{k-1} \sum_{b=0}^{k-1} f[a, b] \; x[i + a, j + b],

which is what :func:`torch.nn.functional.conv2d` computes. The same blur written as a
**convolution**, :math:`y = x * h` (MATLAB ``conv2(x, h, 'valid')``, the convention of blur-kernel
datasets such as Levin et al.'s), uses the kernel rotated by 180 degrees:

.. math::
    h[a, b] = f[k - 1 - a, k - 1 - b].

This module is the one place where that flip happens: generators produce correlation filters,
and every kernel that is reported, saved or compared with a ground truth is in convolution
orientation (:func:`to_convolution_kernel`).

Example:
    >>> x = torch.zeros(1, 1, 5, 5); x[..., 2, 2] = 1          # an impulse
    >>> h = torch.tensor([[0., 0., 0.], [0., 0., 1.], [0., 0., 0.]])  # move right by one pixel
    >>> convolve_valid(x, h)[0, 0]
    tensor([[0., 0., 0.],
            [0., 0., 1.],
            [0., 0., 0.]])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_convolution_kernel(correlation_filter: torch.Tensor) -> torch.Tensor:
    """Rotate a correlation filter by 180 degrees into convolution orientation (last two dims)."""
    return correlation_filter.flip(-2, -1)


def to_correlation_filter(convolution_kernel: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_convolution_kernel` (the rotation is its own inverse)."""
    return convolution_kernel.flip(-2, -1)


# Kernel side from which method="auto" correlates through the FFT: from there on, on the CPU, the FFT is the faster
# of the two, and its float32 result the closer to float64 (docs/performance.md, "the blur through FFTs"; the
# threshold was not tuned for GPUs).
FFT_FROM_KERNEL_SIZE = 9


def correlation_method(method: str, kernel_size: int) -> str:
    """``"direct"`` or ``"fft"``: what ``method`` (``"direct"``, ``"fft"`` or ``"auto"``) means for a kernel side."""
    if method == "auto":
        return "fft" if kernel_size >= FFT_FROM_KERNEL_SIZE else "direct"
    if method not in ("direct", "fft"):
        raise ValueError(f"method must be 'direct', 'fft' or 'auto', got {method!r}")
    return method


def correlate_valid(image: torch.Tensor, correlation_filter: torch.Tensor, method: str = "direct") -> torch.Tensor:
    """'Valid' 2-D correlation of every channel of ``image`` with one filter.

    Args:
        image: ``(N, C, H + k - 1, W + k - 1)``.
        correlation_filter: ``(k, k)`` (any ``kh x kw`` works).
        method: ``"direct"`` (a convolution layer), ``"fft"`` (products of real FFTs: the cost no longer
            grows with ``k * k``; equal to the direct result up to rounding), or ``"auto"`` (FFT for
            filters of side ``FFT_FROM_KERNEL_SIZE`` or more).

    Returns:
        ``(N, C, H, W)``.
    """
    if correlation_method(method, max(correlation_filter.shape[-2:])) == "fft":
        return correlate_valid_fft(image, correlation_filter)
    n, c, h, w = image.shape
    weight = correlation_filter.reshape(1, 1, *correlation_filter.shape[-2:]).to(image.dtype)
    out = F.conv2d(image.reshape(n * c, 1, h, w), weight)
    return out.reshape(n, c, *out.shape[-2:])


def fast_fft_size(n: int) -> int:
    """The smallest ``m >= n`` whose prime factors are 2, 3 and 5 (sizes FFTs handle fastest)."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def correlate_valid_fft(image: torch.Tensor, correlation_filter: torch.Tensor) -> torch.Tensor:
    """:func:`correlate_valid` through the FFT.

    The 'valid' correlation with ``f`` is the linear convolution with ``f`` rotated by 180 degrees,
    from index ``k - 1`` on; a circular convolution of any period ``M >= H + k - 1`` agrees with the
    linear one there (wrap-around only reaches the first ``k - 1`` outputs), so ``M`` is the next size
    with prime factors 2, 3, 5. Computed in at least float32. A filter with leading dimensions
    (``(N, 1, k, k)``) broadcasts against the image's: one filter per image.
    """
    kh, kw = correlation_filter.shape[-2:]
    h, w = image.shape[-2:]
    size = (fast_fft_size(h), fast_fft_size(w))
    dtype = torch.promote_types(image.dtype, torch.float32)
    spectrum = torch.fft.rfft2(image.to(dtype), s=size)
    spectrum = spectrum * torch.fft.rfft2(to_convolution_kernel(correlation_filter).to(dtype), s=size)
    full = torch.fft.irfft2(spectrum, s=size)
    return full[..., kh - 1 : h, kw - 1 : w].to(image.dtype)


def convolve_valid(image: torch.Tensor, convolution_kernel: torch.Tensor) -> torch.Tensor:
    """'Valid' 2-D convolution (MATLAB ``conv2(image, kernel, 'valid')``) of every channel."""
    return correlate_valid(image, to_correlation_filter(convolution_kernel))


class ValidBlur(nn.Module):
    """Forward operator :math:`A_f(x) = f \\star x` ('valid' correlation) as a module.

    Shapes:
        ``forward(x, f)``: ``x`` is ``(N, C, H + k - 1, W + k - 1)``, ``f`` is ``(k, k)``, the
        result is ``(N, C, H, W)``.
    """

    def forward(self, image: torch.Tensor, correlation_filter: torch.Tensor) -> torch.Tensor:
        return correlate_valid(image, correlation_filter)
