r"""The reduced problem of the fast mode: estimate the kernel on a smaller image, bring it back to full scale.

SelfDeblur's cost grows with the pixels G_x generates (about 0.85 s per step at 271x271 on 2 CPU cores,
docs/performance.md), so a 1280x720 photo takes hours at the paper's settings. The kernel, though, is a small
object: the fast mode estimates it on a *reduced* blurry image and recovers the full-resolution image by
non-blind deconvolution (:mod:`selfdeblur.full_resolution`). The SelfDeblur authors suggested the crop half of
this to users who ran out of memory (csdwren/SelfDeblur issue #10: estimate on a 500x500 crop).

The reduction, in two parts:

1. **Downscale** by :math:`s = \min(1, k_{max} / k)` (antialiased bilinear): if
   :math:`y = h * x`, then approximately :math:`D_s y = h_s * D_s x` with :math:`h_s` the kernel shrunk by
   :math:`s`, of side :math:`k_s`, the smallest odd integer :math:`\ge s k`. Averaging also divides white noise's
   standard deviation by about :math:`1/s`.
2. **Crop** the window of ``crop x crop`` reduced pixels with the most edge content (sum of gradient magnitudes),
   leaving out pixels near saturation, where the blur model does not hold. With ``window: coherent_edges`` each
   pixel's gradient magnitude is weighted by how coherent the gradients around it are, after Xu and Jia's r-map
   (ECCV 2010, "Two-phase kernel estimation for robust motion deblurring", Eq. 4):

   .. math:: r(x) = \frac{\lVert \sum_{y \in N(x)} \nabla B(y) \rVert}{\sum_{y \in N(x)} \lVert \nabla B(y)
      \rVert + \varepsilon\,|N(x)|}

   over the ``k_s x k_s`` neighbourhood :math:`N(x)` (the reduced kernel's extent), :math:`\varepsilon` a gradient
   of 1% of the range. Straight edges longer than the kernel give :math:`r \approx 1`; texture and noise, whose
   gradients cancel, give :math:`r \approx 0`. Xu and Jia showed that such fine structure misleads kernel
   estimation.

The kernel estimated at scale :math:`s` (convolution orientation, ``(k_s, k_s)``) is resampled to full scale by
bilinear interpolation on a grid whose corner pixel centres keep their positions (pixel offset :math:`u` at full
scale is offset :math:`s u` at the reduced scale), clipped at zero, centred into ``k x k`` and normalised to sum 1.

Example:
    >>> plan = plan_reduction(720, 1280, kernel_size=31, max_kernel_size=17, crop=160)
    >>> plan.scale, plan.kernel_size, plan.size
    (0.5483870967741935, 17, (395, 702))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deblur_core.color import to_luma
from selfdeblur.options import FastMode


@dataclass(frozen=True)
class ReductionPlan:
    """How one image is reduced for kernel estimation.

    ``scale``: reduced / full size (1: not downscaled); ``kernel_size``: odd kernel side at the reduced scale;
    ``size``: ``(H, W)`` of the downscaled image; ``crop``: side of the estimation window in reduced pixels
    (``None``: the whole downscaled image); ``full_kernel_size``: the kernel side asked for at full scale.
    """

    scale: float
    kernel_size: int
    size: tuple[int, int]
    crop: int | None
    full_kernel_size: int

    @property
    def window_size(self) -> tuple[int, int]:
        """``(H, W)`` of the image the reduced problem solves."""
        h, w = self.size
        return (h, w) if self.crop is None else (min(h, self.crop), min(w, self.crop))


def _odd_at_least(value: float) -> int:
    n = max(1, math.ceil(value - 1e-9))
    return n if n % 2 == 1 else n + 1


def plan_reduction(
    height: int, width: int, kernel_size: int, max_kernel_size: int | None, crop: int | None
) -> ReductionPlan:
    """The reduction of an ``height x width`` image whose kernel is at most ``kernel_size`` pixels.

    ``max_kernel_size``: downscale until the kernel is at most this wide (``None``: do not downscale);
    ``crop``: side of the estimation window (``None``: no crop; windows larger than the image take all of it).
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    scale = 1.0 if max_kernel_size is None else min(1.0, max_kernel_size / kernel_size)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    reduced_kernel = kernel_size if scale == 1.0 else min(kernel_size, _odd_at_least(scale * kernel_size))
    if crop is not None and crop >= max(size):
        crop = None
    return ReductionPlan(scale, reduced_kernel, size, crop, kernel_size)


def fast_mode_plan(fast: FastMode, height: int, width: int, kernel_size: int, stage: int = -1) -> ReductionPlan | None:
    """The reduction ``fast`` makes of an ``height x width`` image at coarse-to-fine ``stage`` (an index into
    ``(*fast.coarse_kernel_sizes, fast.max_kernel_size)``; the last, the only one without stages, by default), or
    ``None`` when it is solved in the paper's mode."""
    if not fast.applies_to(height, width):
        return None
    max_kernel_size = (*fast.coarse_kernel_sizes, fast.max_kernel_size)[stage]
    return plan_reduction(height, width, kernel_size, max_kernel_size, fast.crop)


def downscale(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(C, H, W)`` -> ``(C, *size)`` by antialiased bilinear resampling (a triangle filter stretched by the
    factor, which suppresses aliasing; constants and linear ramps are kept)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image[None].float(), size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def luma_gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences ``(d/dx, d/dy)`` of the luma (``to_luma(..., "gray")``) of ``image`` ``(C, H, W)``, each
    ``(H, W)``, zero in the last column / row."""
    luma = to_luma(image[None].float(), "gray")[0, 0] if image.shape[0] == 3 else image[0].float()
    gx = torch.zeros_like(luma)
    gy = torch.zeros_like(luma)
    gx[:, :-1] = luma[:, 1:] - luma[:, :-1]
    gy[:-1, :] = luma[1:, :] - luma[:-1, :]
    return gx, gy


def edge_content(
    image: torch.Tensor,
    saturation: float = 0.98,
    margin: int = 0,
    gradients: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Per-pixel gradient magnitude of the luma (``to_luma(..., "gray")``) of ``image`` ``(C, H, W)`` in [0, 1],
    ``(H, W)``; zero within ``margin`` pixels of a pixel at or above ``saturation`` in any channel.
    ``gradients``: ``luma_gradients(image)`` when the caller has them already."""
    gx, gy = luma_gradients(image) if gradients is None else gradients
    grad = gx.abs() + gy.abs()
    saturated = (image >= saturation).any(dim=0).float()
    if margin > 0 and bool(saturated.any()):
        saturated = F.max_pool2d(saturated[None, None], 2 * margin + 1, stride=1, padding=margin)[0, 0]
    return grad * (1 - saturated)


def gradient_coherence(
    image: torch.Tensor,
    side: int,
    epsilon: float = 0.01,
    gradients: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Xu and Jia's r-map (module docstring) of the luma of ``image`` ``(C, H, W)`` in [0, 1] over ``side x side``
    neighbourhoods (odd ``side``; zero-padded at the borders), ``(H, W)`` in [0, 1). ``gradients``:
    ``luma_gradients(image)`` when the caller has them already."""
    if side < 1 or side % 2 == 0:
        raise ValueError(f"side must be odd and positive, got {side}")
    gx, gy = luma_gradients(image) if gradients is None else gradients
    stack = torch.stack([gx, gy, torch.hypot(gx, gy)])[None]
    # Means rather than sums: epsilon is then a per-pixel gradient, whatever the neighbourhood's size.
    means = F.avg_pool2d(stack, side, stride=1, padding=side // 2, count_include_pad=True)[0]
    return torch.hypot(means[0], means[1]) / (means[2] + epsilon)


def most_detailed_window(content: torch.Tensor, side: tuple[int, int]) -> tuple[int, int]:
    """``(top, left)`` of the ``side`` window of ``content`` ``(H, W)`` with the largest sum (first on ties)."""
    h, w = side
    if h > content.shape[0] or w > content.shape[1]:
        raise ValueError(f"window {side} is larger than the image {tuple(content.shape)}")
    sums = F.avg_pool2d(content[None, None].double(), (h, w), stride=1)[0, 0]
    index = int(torch.argmax(sums))
    return divmod(index, sums.shape[1])


def reduce_image(
    blurry: torch.Tensor, plan: ReductionPlan, saturation: float = 0.98, window: str = "edges"
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The image the reduced problem solves, ``(C, *plan.window_size)``, and the window's ``(top, left)`` in the
    downscaled image. ``blurry``: ``(C, H, W)`` in [0, 1]; ``window``: ``"edges"`` (the most gradient) or
    ``"coherent_edges"`` (gradient weighted by the r-map, module docstring)."""
    if window not in ("edges", "coherent_edges"):
        raise ValueError(f"window must be 'edges' or 'coherent_edges', got {window!r}")
    small = downscale(blurry, plan.size).clamp(0, 1)
    if plan.crop is None:
        return small, (0, 0)
    h, w = plan.window_size
    gradients = luma_gradients(small)
    content = edge_content(small, saturation, plan.kernel_size, gradients)
    if window == "coherent_edges":
        content = content * gradient_coherence(small, plan.kernel_size, gradients=gradients)
    top, left = most_detailed_window(content, (h, w))
    return small[:, top : top + h, left : left + w].contiguous(), (top, left)


def estimation_region(
    blurry: torch.Tensor, plan: ReductionPlan, saturation: float = 0.98, window: str = "edges"
) -> torch.Tensor:
    """The part of ``blurry`` (``(C, H, W)``, full resolution) that the reduced problem's window shows
    (:func:`reduce_image`), ``(C, h, w)``: about ``plan.window_size / plan.scale`` pixels."""
    _, (top, left) = reduce_image(blurry, plan, saturation, window)
    h, w = plan.window_size
    sy, sx = blurry.shape[-2] / plan.size[0], blurry.shape[-1] / plan.size[1]
    rows = slice(math.floor(top * sy), min(blurry.shape[-2], math.ceil((top + h) * sy)))
    cols = slice(math.floor(left * sx), min(blurry.shape[-1], math.ceil((left + w) * sx)))
    return blurry[:, rows, cols]


def kernel_to_full_scale(kernel: torch.Tensor, plan: ReductionPlan) -> torch.Tensor:
    """The kernel estimated at ``plan.scale`` (``(k_s, k_s)``, convolution orientation) as a full-scale
    ``(k, k)`` kernel summing to 1 (see the module docstring)."""
    k_s = kernel.shape[-1]
    if plan.scale == 1.0:
        out = kernel.double().clamp_min(0)
    else:
        # Corner pixel centres are (k_s - 1) / 2 reduced pixels from the centre: (k_s - 1) / (2 s) full pixels.
        side = 2 * round((k_s - 1) / (2 * plan.scale)) + 1
        out = F.interpolate(kernel.double()[None, None], size=(side, side), mode="bilinear", align_corners=True)
        out = out[0, 0].clamp_min(0)
    return _centred_and_normalised(out, plan.full_kernel_size, "the estimated kernel").to(kernel.dtype)


def _centred_and_normalised(kernel: torch.Tensor, size: int, what: str) -> torch.Tensor:
    """An odd-sided kernel cropped or zero-padded about its centre to ``size x size``, divided by its sum."""
    if kernel.shape[-1] > size:
        start = (kernel.shape[-1] - size) // 2
        kernel = kernel[start : start + size, start : start + size]
    elif kernel.shape[-1] < size:
        pad = (size - kernel.shape[-1]) // 2
        kernel = F.pad(kernel, (pad, pad, pad, pad))
    total = kernel.sum()
    if not total > 0:
        raise ValueError(f"{what} is zero everywhere")
    return kernel / total


def kernel_to_scale(kernel: torch.Tensor, scale: float, kernel_size: int) -> torch.Tensor:
    """A full-scale kernel ``(k, k)`` (any orientation, kept) as seen at ``scale`` <= 1, in ``(kernel_size,
    kernel_size)``, summing to 1: the inverse of :func:`kernel_to_full_scale`'s resampling (the same corner-centred
    grid), antialiased, clipped at zero, centred into ``kernel_size``.

    Example:
        >>> k = torch.zeros(31, 31); k[15, 5:26] = 1 / 21  # a 21 px horizontal line ...
        >>> reduced = kernel_to_scale(k, 11 / 31, 11)  # ... is 21 x 11 / 31 = 7.5 px long at 11 / 31
        >>> reduced.shape, round(float(reduced.sum()), 6), int((reduced[5] > 0.01).sum())
        (torch.Size([11, 11]), 1.0, 8)
    """
    k = kernel.shape[-1]
    if scale >= 1.0:
        out = kernel.double().clamp_min(0)
    else:
        side = 2 * round((k - 1) * scale / 2) + 1
        out = F.interpolate(
            kernel.double()[None, None], size=(side, side), mode="bilinear", antialias=True, align_corners=True
        )
        out = out[0, 0].clamp_min(0)
    return _centred_and_normalised(out, kernel_size, "the kernel").to(kernel.dtype)
