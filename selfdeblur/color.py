r"""RGB <-> YCbCr (ITU-R BT.601, full range, the JPEG/JFIF convention), for images in [0, 1].

.. math::
    Y = 0.299 R + 0.587 G + 0.114 B, \quad
    C_b = \tfrac12 + \frac{B - Y}{1.772}, \quad
    C_r = \tfrac12 + \frac{R - Y}{1.402}.

This is the conversion of OpenCV's ``COLOR_BGR2YCrCb`` (used by the SelfDeblur authors for colour
photos) and of Pillow's ``"YCbCr"`` mode, with chroma offset 0.5 instead of 128/255.
Channels are along dimension ``-3``: ``(..., 3, H, W)``, in the order (Y, Cb, Cr).

:func:`rgb_to_y` is the other BT.601 luma, the studio-range one of MATLAB's ``rgb2ycbcr`` (Y in
[16, 235] / 255), which evaluation protocols measure (BasicSR's "PSNR-Y", the SelfDeblur authors' Lai set).
"""

from __future__ import annotations

import torch

_KR, _KG, _KB = 0.299, 0.587, 0.114


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """``(..., 3, H, W)`` RGB in [0, 1] -> ``(..., 3, H, W)`` YCbCr in [0, 1]."""
    r, g, b = rgb.unbind(-3)
    y = _KR * r + _KG * g + _KB * b
    cb = 0.5 + (b - y) / (2 * (1 - _KB))
    cr = 0.5 + (r - y) / (2 * (1 - _KR))
    return torch.stack([y, cb, cr], dim=-3)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (no clamping)."""
    y, cb, cr = ycbcr.unbind(-3)
    r = y + 2 * (1 - _KR) * (cr - 0.5)
    b = y + 2 * (1 - _KB) * (cb - 0.5)
    g = (y - _KR * r - _KB * b) / _KG
    return torch.stack([r, g, b], dim=-3)


def split_luminance(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Split ``(C, H, W)`` (C = 1 or 3) into luminance ``(1, H, W)`` and chroma ``(2, H, W)`` or None."""
    if image.shape[-3] == 1:
        return image, None
    ycbcr = rgb_to_ycbcr(image)
    return ycbcr[..., :1, :, :], ycbcr[..., 1:, :, :]


def merge_luminance(luminance: torch.Tensor, chroma: torch.Tensor | None) -> torch.Tensor:
    """Inverse of :func:`split_luminance`; the result is clamped to [0, 1]."""
    if chroma is None:
        return luminance.clamp(0, 1)
    return ycbcr_to_rgb(torch.cat([luminance, chroma], dim=-3)).clamp(0, 1)


# ITU-R BT.601 luma for R, G, B in [0, 1] scaled to 8 bits: Y = 16 + 65.481 R + 128.553 G + 24.966 B (MATLAB's
# rgb2ycbcr, BasicSR's bgr2ycbcr(y_only=True)); Y spans [16, 235] of [0, 255].
_BT601_Y = (65.481, 128.553, 24.966)


def rgb_to_y(images: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    r"""BT.601 luma of ``(N, 3, H, W)`` RGB images in ``[0, data_range]`` -> ``(N, 1, H, W)``, same range.

    :math:`Y = (16 + 65.481 r + 128.553 g + 24.966 b) / 255 \cdot R` with :math:`r, g, b` in [0, 1]
    (not rounded). One-channel images are returned unchanged.

    >>> (rgb_to_y(torch.ones(1, 3, 1, 1, dtype=torch.float64)) * 255).item()
    235.0
    """
    if images.shape[1] == 1:
        return images
    if images.shape[1] != 3:
        raise ValueError(f"the Y channel needs RGB or one-channel images, got {images.shape[1]} channels")
    weights = torch.tensor(_BT601_Y, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    rgb = images / data_range
    return ((rgb * weights).sum(1, keepdim=True) + 16) / 255 * data_range
