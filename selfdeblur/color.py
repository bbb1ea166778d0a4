r"""RGB <-> YCbCr (ITU-R BT.601, full range, the JPEG/JFIF convention), for images in [0, 1].

.. math::
    Y = 0.299 R + 0.587 G + 0.114 B, \quad
    C_b = \tfrac12 + \frac{B - Y}{1.772}, \quad
    C_r = \tfrac12 + \frac{R - Y}{1.402}.

This is the conversion of OpenCV's ``COLOR_BGR2YCrCb`` (used by the SelfDeblur authors for colour
photos) and of Pillow's ``"YCbCr"`` mode, with chroma offset 0.5 instead of 128/255.
Channels are along dimension ``-3``: ``(..., 3, H, W)``, in the order (Y, Cb, Cr).
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
