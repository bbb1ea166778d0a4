"""The reblurring module M_R of Nah et al., "Clean Images are Hard to Reblur", ICLR 2022.

M_R is a small convolutional network trained to blur the deblurred image again: given the output
of a deblurring network it predicts a blurry image. A well-deblurred (sharp) image leaves M_R
little blur to amplify; the reblurring losses built on it penalise the blur that remains. M_R is
deliberately small so that it can only model the residual blur, not undo the deblurring: a head
convolution, ``n_blocks`` residual blocks and a tail convolution, predicting the reblurred image
as the input plus a residual. ``n_blocks = 1`` and ``2`` are the paper's "n1" and "n2" modules.

This file also holds :class:`ResBlock`, the conv-ReLU-conv block with an identity skip that
M_R, SRN and DHN all use (Nah et al., CVPR 2017 "DeepDeblur"; Tao et al., CVPR 2018; Zhang
et al., CVPR 2019 use the same block, without batch normalisation).

Images are ``(N, C, H, W)`` floats, nominally in ``[0, 1]``; outputs have the same shape and are not
clamped, so losses see the raw prediction.
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


class ReblurringModule(nn.Module):
    """M_R: reblurs an image, ``output = input + tail(blocks(head(input)))``.

    Args:
        n_blocks: number of :class:`ResBlock` between head and tail (paper: 1 for "n1", 2 for "n2").
        channels: feature channels of the head, the blocks and the tail input (64).
        kernel_size: side of every convolution kernel, odd; 5 by default, as the 5x5 ResBlocks of
            Nah's DeepDeblur, and configurable.
        image_channels: channels of the input and output images (3).

    With ``n_blocks`` blocks, ``C = channels``, ``k = kernel_size`` and ``I = image_channels`` the
    module has ``(I*C*k^2 + C) + n_blocks * 2 * (C*C*k^2 + C) + (C*I*k^2 + I)`` parameters:
    214,595 for "n1" and 419,523 for "n2" with the defaults. There is no down-sampling, so any
    ``H x W`` works; :attr:`stride` is 1.

    Input ``(N, image_channels, H, W)``, nominally in ``[0, 1]``; output the same shape, not clamped.

    >>> reblur = ReblurringModule(n_blocks=2)
    >>> sum(p.numel() for p in reblur.parameters())
    419523
    >>> reblur(torch.rand(1, 3, 37, 53)).shape
    torch.Size([1, 3, 37, 53])
    """

    stride = 1

    def __init__(self, n_blocks: int = 1, channels: int = 64, kernel_size: int = 5, image_channels: int = 3) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be non-negative, got {n_blocks}")
        self.head = same_conv(image_channels, channels, kernel_size)
        self.blocks = nn.Sequential(*(ResBlock(channels, kernel_size) for _ in range(n_blocks)))
        self.output_conv = same_conv(channels, image_channels, kernel_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Reblur ``(N, C, H, W)`` images; the result has the same shape and is not clamped."""
        # A residual makes "no extra blur" (the identity) the easy default that M_R departs from.
        return images + self.output_conv(self.blocks(self.head(images)))
