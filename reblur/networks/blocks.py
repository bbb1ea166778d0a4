"""Building blocks shared by the networks: 'same' convolutions and the residual block.

:class:`ResBlock` is the conv-ReLU-conv block with an identity skip that M_R, SRN and DHN all use
(Nah et al., CVPR 2017 "DeepDeblur"; Tao et al., CVPR 2018; Zhang et al., CVPR 2019 use the same
block, without batch normalisation).
"""

from __future__ import annotations

import torch
from torch import nn


def same_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A convolution with zero padding ``kernel_size // 2``: stride 1 keeps H x W, stride 2 halves even sides."""
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd to keep the image centred, got {kernel_size}")
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))``, both convolutions ``channels -> channels`` with ``kernel_size`` (odd).

    No normalisation and no activation after the sum, as in DeepDeblur, SRN and DMPHN.

    >>> block = ResBlock(4, kernel_size=3)
    >>> block(torch.zeros(1, 4, 5, 6)).shape
    torch.Size([1, 4, 5, 6])
    """

    def __init__(self, channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.first_conv = same_conv(channels, channels, kernel_size)
        self.activation = nn.ReLU(inplace=True)
        self.second_conv = same_conv(channels, channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second_conv(self.activation(self.first_conv(x)))
