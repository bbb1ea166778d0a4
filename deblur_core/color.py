r"""RGB <-> YCbCr (ITU-R BT.601, full range, the JPEG/JFIF convention), for images in [0, 1].

.. math::
    Y = 0.299 R + 0.587 G + 0.114 B, \quad
    C_b = \tfrac12 + \frac{B - Y}{1.772}, \quad
    C_r = \tfrac12 + \frac{R - Y}{1.402}.

This is the conversion of OpenCV's ``COLOR_BGR2YCrCb`` (used by the SelfDeblur authors for colour
photos) and of Pillow's ``"YCbCr"`` mode, with chroma offset 0.5 instead of 128/255.
Channels are along dimension ``-3``: ``(..., 3, H, W)``, in the order (Y, Cb, Cr).

Evaluation protocols measure colour images on one of three conventions, named here as the metrics'
options name them (docs/conventions.md):

* ``"rgb"``: every channel as it is;
* ``"y"``: :func:`rgb_to_y`, the studio-range BT.601 luma of MATLAB's ``rgb2ycbcr`` (Y in [16, 235] / 255),
  BasicSR's "PSNR-Y" and ``convert_to='y'``, the SelfDeblur authors' Lai protocol;
* ``"gray"``: :func:`rgb_to_gray`, MATLAB's ``rgb2gray`` (full range), which MATLAB's ``niqe`` applies to RGB
  images and pyiqa's default ``yiq`` Y approximates.

:func:`to_luma` applies a convention by name.
"""

from __future__ import annotations

import torch

from deblur_core.conventions import FULL_REFERENCE_COLORS

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
    return (_weighted_channel_sum(images / data_range, _BT601_Y, "the Y channel") + 16) / 255 * data_range


# MATLAB's rgb2gray: the Y row of the inverse of rgb2ntsc's YIQ-to-RGB matrix
# [[1, 0.956, 0.621], [1, -0.272, -0.647], [1, -1.106, 1.703]]; documented rounded as 0.2989, 0.5870, 0.1140.
_RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def rgb_to_gray(images: torch.Tensor) -> torch.Tensor:
    r"""MATLAB's ``rgb2gray`` of ``(N, 3, H, W)`` RGB images -> ``(N, 1, H, W)``, in the input's range.

    :math:`0.298936 R + 0.587043 G + 0.114021 B` (full range, no offset; not rounded, as ``rgb2gray`` of a
    ``double`` image: on a ``uint8`` image MATLAB rounds to integers). One-channel images are returned unchanged.

    >>> rgb_to_gray(torch.tensor([255.0, 0.0, 0.0], dtype=torch.float64).view(1, 3, 1, 1)).item()
    76.22868542991263
    """
    if images.shape[1] == 1:
        return images
    return _weighted_channel_sum(images, _RGB2GRAY, "gray")


def to_luma(images: torch.Tensor, color: str, data_range: float = 1.0) -> torch.Tensor:
    """``(N, C, H, W)`` images in ``[0, data_range]`` under a named convention (module docstring):
    ``"rgb"`` returns them unchanged, ``"y"`` and ``"gray"`` give ``(N, 1, H, W)``."""
    if color == "rgb":
        return images
    if color == "y":
        return rgb_to_y(images, data_range)
    if color == "gray":
        return rgb_to_gray(images)
    raise ValueError(f"colour convention must be one of {FULL_REFERENCE_COLORS}, got {color!r}")


def _weighted_channel_sum(images: torch.Tensor, weights: tuple[float, float, float], what: str) -> torch.Tensor:
    """``sum_c weights[c] * images[:, c]`` of ``(N, 3, H, W)`` RGB images, keeping the channel axis."""
    if images.shape[1] != 3:
        raise ValueError(f"{what} needs RGB or one-channel images, got {images.shape[1]} channels")
    return (images * torch.tensor(weights, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)).sum(
        1, keepdim=True
    )
