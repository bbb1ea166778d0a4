"""G_x: the deep-image-prior skip autoencoder that generates SelfDeblur's latent sharp image.

Architecture (Ulyanov et al., "Deep Image Prior", as configured by Ren et al., CVPR 2020):
an encoder-decoder of ``len(channels)`` scales. At scale ``i`` the input feeds

* a skip branch: 1x1 conv -> BN -> LeakyReLU(0.2), ``skip_channels[i]`` channels;
* a deeper branch: 3x3 stride-2 conv -> BN -> LeakyReLU -> [non-local block] -> 3x3 conv -> BN ->
  LeakyReLU -> (scale ``i + 1``) -> bilinear x2 upsampling;

the two are concatenated (centre-cropped to the smaller size), then BN -> 3x3 conv -> BN ->
LeakyReLU -> 1x1 conv -> BN -> LeakyReLU. A final 1x1 conv and a sigmoid give the image.
All 3x3 convolutions use reflection padding. With the default settings (5 scales of 128
channels, 16-channel skips, non-local blocks at the 3 deepest scales, 8 input channels, one
output channel) the network has 2,365,521 parameters, as the authors' released model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from deblur_core.crop import center_crop
from selfdeblur.networks.non_local import NonLocalBlock

if TYPE_CHECKING:
    from selfdeblur.options import Generators


class ReflectionPad(nn.ReflectionPad2d):
    """``nn.ReflectionPad2d`` that keeps its input's dtype under autocast.

    CPU autocast lists reflection padding among its float32 operations, so under ``bf16-mixed`` every bfloat16
    feature map would be widened to float32 before each 3x3 convolution and narrowed again by the convolution: two
    extra passes over the map, and float32 copies in the backward pass too. Padding only copies values, so the
    output is the same bit for bit; in the backward pass the gradients folded back at the borders are now summed in
    bfloat16.

    Example:
        >>> x = torch.rand(1, 2, 5, 5).bfloat16()
        >>> with torch.autocast("cpu", dtype=torch.bfloat16):
        ...     ReflectionPad(1)(x).dtype
        torch.bfloat16
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.amp.is_autocast_available(x.device.type):  # e.g. meta tensors
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


class _CentreCropPaddedGradient(torch.autograd.Function):
    """``center_crop`` whose backward zero-pads the gradient with one ``F.pad``.

    The generic slice backward allocates zeros and copies the gradient into a window of them; with the channel
    slice of a ``torch.cat`` gradient in channels_last layout that copy takes several times as long as the pad.
    Both only move values: the gradient has the same values (in the incoming gradient's memory layout).
    ``setup_context`` and the generated vmap rule let the stacked solver (``torch.func.vmap``) run it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        return center_crop(x, height, width)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor, int, int], output: torch.Tensor) -> None:
        x, height, width = inputs
        top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
        ctx.pads = (left, x.shape[-1] - width - left, top, x.shape[-2] - height - top)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return F.pad(grad, ctx.pads), None, None


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The centre ``height x width`` window of the last two dimensions of ``x``, as
    ``deblur_core.crop.center_crop`` (a view), or ``x`` itself if it has that size already."""
    if x.shape[-2:] == (height, width):
        return x
    return cast(torch.Tensor, _CentreCropPaddedGradient.apply(x, height, width))


def conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Module:
    """Convolution with reflection padding of ``(kernel_size - 1) // 2`` on every side."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride)
    pad = (kernel_size - 1) // 2
    return nn.Sequential(ReflectionPad(pad), layer) if pad else layer


def bn_act(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.LeakyReLU(0.2, inplace=True)]


class SkipScale(nn.Module):
    """One scale of the skip autoencoder (see the module docstring); ``inner`` is the next scale."""

    def __init__(
        self,
        in_channels: int,
        down_channels: int,
        up_channels: int,
        skip_channels: int,
        inner: nn.Module | None,
        inner_channels: int,
        non_local: bool,
        upsample_mode: str,
    ) -> None:
        super().__init__()
        self.skip = (
            nn.Sequential(conv(in_channels, skip_channels, 1), *bn_act(skip_channels)) if skip_channels else None
        )
        deeper: list[nn.Module] = [conv(in_channels, down_channels, 3, stride=2), *bn_act(down_channels)]
        if non_local:
            deeper.append(NonLocalBlock(down_channels))
        deeper += [conv(down_channels, down_channels, 3), *bn_act(down_channels)]
        if inner is not None:
            deeper.append(inner)
        deeper.append(nn.Upsample(scale_factor=2, mode=upsample_mode))
        self.deeper = nn.Sequential(*deeper)
        merged = skip_channels + (inner_channels if inner is not None else down_channels)
        self.merge = nn.Sequential(
            nn.BatchNorm2d(merged),
            conv(merged, up_channels, 3),
            *bn_act(up_channels),
            conv(up_channels, up_channels, 1),
            *bn_act(up_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep = self.deeper(x)
        if self.skip is None:
            return self.merge(deep)
        skip = self.skip(x)
        h = min(skip.shape[-2], deep.shape[-2])
        w = min(skip.shape[-1], deep.shape[-1])
        return self.merge(torch.cat([crop_to(skip, h, w), crop_to(deep, h, w)], dim=1))


class SkipGenerator(nn.Module):
    """Deep-image-prior skip autoencoder.

    Args:
        in_channels: channels of the noise input (8 in SelfDeblur).
        out_channels: channels of the generated image (1: SelfDeblur works on luminance).
        down_channels: channels of the encoder at each scale, coarsest last.
        up_channels: channels of the decoder at each scale (defaults to ``down_channels``).
        skip_channels: channels of the skip branch at each scale (0 disables it).
        non_local_scales: how many of the deepest scales get a non-local block.
        upsample_mode: ``"bilinear"`` or ``"nearest"``.
        sigmoid: end with a sigmoid so that the output lies in (0, 1).

    Shapes:
        input ``(B, in_channels, H, W)``, output ``(B, out_channels, H, W)`` for any ``H, W``
        (odd sizes are handled by centre-cropping at each concatenation).

    Example:
        >>> g = SkipGenerator(down_channels=[8, 8], skip_channels=[2, 2], non_local_scales=0)
        >>> g(torch.rand(1, 8, 21, 19)).shape
        torch.Size([1, 1, 21, 19])
    """

    def __init__(
        self,
        in_channels: int = 8,
        out_channels: int = 1,
        down_channels: Sequence[int] = (128, 128, 128, 128, 128),
        up_channels: Sequence[int] | None = None,
        skip_channels: Sequence[int] = (16, 16, 16, 16, 16),
        non_local_scales: int = 3,
        upsample_mode: str = "bilinear",
        sigmoid: bool = True,
    ) -> None:
        super().__init__()
        up_channels = list(down_channels if up_channels is None else up_channels)
        if not (len(down_channels) == len(up_channels) == len(skip_channels)) or not down_channels:
            raise ValueError(
                "down_channels, up_channels and skip_channels must be non-empty and of equal length, got "
                f"{list(down_channels)}, {up_channels}, {list(skip_channels)}"
            )
        n = len(down_channels)
        inputs = [in_channels, *down_channels[:-1]]
        inner: nn.Module | None = None
        for i in reversed(range(n)):
            inner = SkipScale(
                in_channels=inputs[i],
                down_channels=down_channels[i],
                up_channels=up_channels[i],
                skip_channels=skip_channels[i],
                inner=inner,
                inner_channels=up_channels[i + 1] if i + 1 < n else 0,
                non_local=i >= n - non_local_scales,
                upsample_mode=upsample_mode,
            )
        assert inner is not None  # down_channels is not empty (checked above)
        self.body = inner
        self.head = nn.Conv2d(up_channels[0], out_channels, 1)
        self.sigmoid = sigmoid

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.head(self.body(z))
        return torch.sigmoid(out) if self.sigmoid else out


def build_image_generator(generators: Generators) -> SkipGenerator:
    """SelfDeblur's G_x as the options describe it: ``generators.input_channels`` in, one (luminance) channel out,
    ``image_channels`` and ``skip_channels`` per scale, non-local blocks at the ``non_local_scales`` deepest."""
    return SkipGenerator(
        in_channels=generators.input_channels,
        out_channels=1,
        down_channels=list(generators.image_channels),
        skip_channels=list(generators.skip_channels),
        non_local_scales=generators.non_local_scales,
    )
