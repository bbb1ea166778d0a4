"""A small U-Net deblurring baseline.

U-Net (Ronneberger et al., MICCAI 2015) adapted to image restoration, used here as the light
baseline deblurring network trained with the reblurring losses of Nah et al. (ICLR 2022):

* level 0: two 3x3 conv + ReLU, ``in_channels -> channels[0]``;
* level ``i > 0``: a 3x3 stride-2 conv + ReLU (``channels[i-1] -> channels[i]``), then two 3x3
  conv + ReLU; the deepest level is the bottleneck;
* back up, level by level: a 2x2 stride-2 transposed conv (``channels[i+1] -> channels[i]``),
  concatenation with the encoder features of that level (the skip), two 3x3 conv + ReLU;
* a 1x1 conv to ``out_channels`` and a global residual: ``output = input + net(input)``.

With ``len(channels)`` levels the input sides must be multiples of ``2 ** (len(channels) - 1)``
(the ``stride``: 8 for the default 4 levels); other sizes are padded and the output cropped back.

Images are ``(N, C, H, W)`` floats, nominally in ``[0, 1]``; the output has the input's shape and is
not clamped, so losses see the raw prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from reblur.networks.padding import StridePaddedNet


def conv_relu_pair(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 conv + ReLU, ``in_channels -> out_channels -> out_channels``, keeping H x W."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(StridePaddedNet):
    """U-Net baseline (see the module docstring) with a global residual.

    Args:
        in_channels: channels of the input image (3).
        out_channels: channels of the output image (3); must equal ``in_channels`` when
            ``global_residual`` is on.
        channels: feature channels of each level, shallowest first; ``len(channels)`` levels,
            ``len(channels) - 1`` halvings. Default ``(32, 64, 128, 256)``: 2,700,259 parameters.
        global_residual: predict ``input + net(input)`` (True) or ``net(input)``.
        padding_mode: ``"replicate"`` or ``"reflect"``, for inputs whose sides are not multiples
            of :attr:`stride`.

    Input ``(N, in_channels, H, W)`` of any size, nominally in ``[0, 1]``; output
    ``(N, out_channels, H, W)``, not clamped.

    >>> net = UNet(channels=(8, 16, 32))
    >>> net.stride
    4
    >>> net(torch.rand(1, 3, 37, 53)).shape
    torch.Size([1, 3, 37, 53])
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        channels: Sequence[int] = (32, 64, 128, 256),
        global_residual: bool = True,
        padding_mode: str = "replicate",
    ) -> None:
        channels = tuple(int(c) for c in channels)
        if not channels:
            raise ValueError("channels needs at least one level")
        if global_residual and in_channels != out_channels:
            raise ValueError(f"a global residual needs in_channels == out_channels, got {in_channels}, {out_channels}")
        super().__init__(stride=2 ** (len(channels) - 1), padding_mode=padding_mode)
        self.global_residual = global_residual
        self.input_level = conv_relu_pair(in_channels, channels[0])
        self.down_levels = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(shallower, deeper, 3, stride=2, padding=1),
                nn.ReLU(inplace=True),
                conv_relu_pair(deeper, deeper),
            )
            for shallower, deeper in pairwise(channels)
        )
        # Index i of the two lists below belongs to level i (upsampling from level i + 1 into it).
        self.upsamplers = nn.ModuleList(
            nn.ConvTranspose2d(deeper, shallower, 2, stride=2) for shallower, deeper in pairwise(channels)
        )
        self.up_levels = nn.ModuleList(conv_relu_pair(2 * width, width) for width in channels[:-1])
        self.output_conv = nn.Conv2d(channels[0], out_channels, 1)

    def forward_padded(self, images: torch.Tensor) -> torch.Tensor:
        skips = [self.input_level(images)]
        for down in self.down_levels:
            skips.append(down(skips[-1]))
        features = skips.pop()
        for level in reversed(range(len(skips))):
            upsampled = self.upsamplers[level](features)
            features = self.up_levels[level](torch.cat([skips[level], upsampled], dim=1))
        restored = self.output_conv(features)
        return images + restored if self.global_residual else restored
