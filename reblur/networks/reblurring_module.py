"""The reblurring module M_R of Nah et al., "Clean Images are Hard to Reblur", ICLR 2022.

M_R is a small convolutional network trained to blur the deblurred image again: given the output
of a deblurring network it predicts a blurry image. A well-deblurred (sharp) image leaves M_R
little blur to amplify; the reblurring losses built on it penalise the blur that remains. M_R is
deliberately small so that it can only model the residual blur, not undo the deblurring: a head
convolution, ``n_blocks`` residual blocks and a tail convolution, predicting the reblurred image
as the input plus a residual. ``n_blocks = 1`` and ``2`` are the paper's "n1" and "n2" modules.

Images are ``(N, C, H, W)`` floats, nominally in ``[0, 1]``; outputs have the same shape and are not
clamped, so losses see the raw prediction.
"""

from __future__ import annotations

import torch
from torch import nn

from reblur.networks.blocks import ResBlock, same_conv


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
