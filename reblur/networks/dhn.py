"""DHN: a hierarchical multi-patch deblurring network in the style of DMPHN(1-2-4).

Zhang et al., "Deep Stacked Hierarchical Multi-patch Network for Image Deblurring", CVPR 2019
(DMPHN), in its 1-2-4 configuration: three levels, each with its own encoder-decoder, that see the
image cut into 4, then 2, then 1 patch.

1. 4-patch level: the image is cut into quadrants (top/bottom halves, each cut into left/right).
   Each quadrant is encoded on its own. The features of the two quadrants of each half are
   concatenated side by side and decoded into a residual for that half.
2. 2-patch level: each half plus its residual is encoded on its own; its features are added to
   the 4-patch features of the same half. The halves are concatenated top over bottom and decoded
   into a residual for the whole image.
3. 1-patch level: the image plus that residual is encoded; its features are added to the 2-patch
   features and decoded into the output.

Every encoder is a 3x3 conv (``image_channels -> 32``) and ResBlocks, then twice a 3x3 stride-2
conv (to 64, then 128 channels) and ResBlocks; every decoder is ResBlocks and twice a 4x4 stride-2
transposed conv (128 -> 64 -> 32) and ResBlocks, then a 3x3 conv to the image; 2 ResBlocks per
stage; no skip connections inside an encoder-decoder, no activation outside the ResBlocks, as the
authors' code. The patches of a level are stacked along the batch, so that they run through
their encoder in one call and still never see each other.

Difference from the authors' code, on purpose: ``global_residual`` (on by default) adds the input
to the last decoder's output, as the residuals of the lower levels are added to their inputs;
``global_residual=False`` returns the last decoder's output as DMPHN does.

The feature maps of the 4-patch level have a quarter of the patch sides, so H and W must be
multiples of ``stride = 2 * 2 ** (len(channels) - 1)`` (8 by default); other sizes are padded and
the output cropped back.

Images are ``(N, C, H, W)`` floats, nominally in ``[0, 1]``; the output has the input's shape and is
not clamped, so losses see the raw prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from reblur.networks.blocks import ResBlock, same_conv
from reblur.networks.padding import StridePaddedNet


def split_rows(images: torch.Tensor) -> torch.Tensor:
    """Top and bottom halves of ``(N, C, H, W)`` stacked along the batch: ``(2N, C, H/2, W)``, tops first."""
    half = images.shape[2] // 2
    return torch.cat([images[:, :, :half], images[:, :, half:]], dim=0)


def merge_rows(halves: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`split_rows`: ``(2N, C, h, W)`` tops first -> ``(N, C, 2h, W)``."""
    tops, bottoms = halves.chunk(2, dim=0)
    return torch.cat([tops, bottoms], dim=2)


def split_columns(images: torch.Tensor) -> torch.Tensor:
    """Left and right halves of ``(N, C, H, W)`` stacked along the batch: ``(2N, C, H, W/2)``, lefts first."""
    half = images.shape[3] // 2
    return torch.cat([images[:, :, :, :half], images[:, :, :, half:]], dim=0)


def merge_columns(halves: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`split_columns`: ``(2N, C, H, w)`` lefts first -> ``(N, C, H, 2w)``."""
    lefts, rights = halves.chunk(2, dim=0)
    return torch.cat([lefts, rights], dim=3)


class PatchEncoder(nn.Module):
    """DMPHN encoder: ``(N, image_channels, h, w) -> (N, channels[-1], h / s, w / s)``, ``s = 2**(len(channels)-1)``."""

    def __init__(self, image_channels: int, channels: tuple[int, ...], blocks_per_stage: int) -> None:
        super().__init__()
        stages = []
        for stage, width in enumerate(channels):
            entry = same_conv(image_channels, width, 3) if stage == 0 else same_conv(channels[stage - 1], width, 3, 2)
            stages.append(nn.Sequential(entry, *(ResBlock(width, 3) for _ in range(blocks_per_stage))))
        self.stages = nn.Sequential(*stages)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.stages(patches)


class PatchDecoder(nn.Module):
    """DMPHN decoder: ``(N, channels[-1], h / s, w / s) -> (N, image_channels, h, w)``."""

    def __init__(self, image_channels: int, channels: tuple[int, ...], blocks_per_stage: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [ResBlock(channels[-1], 3) for _ in range(blocks_per_stage)]
        for deeper, shallower in pairwise(reversed(channels)):
            layers.append(nn.ConvTranspose2d(deeper, shallower, 4, stride=2, padding=1))
            layers += [ResBlock(shallower, 3) for _ in range(blocks_per_stage)]
        self.stages = nn.Sequential(*layers)
        self.output_conv = same_conv(channels[0], image_channels, 3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.output_conv(self.stages(features))


class DHN(StridePaddedNet):
    """Hierarchical multi-patch network, DMPHN(1-2-4) style (Zhang et al., CVPR 2019); see the module docstring.

    Args:
        image_channels: channels of the input and output images (3).
        channels: feature channels of the encoder stages, shallowest first (32, 64, 128).
        blocks_per_stage: ResBlocks in each encoder and decoder stage (2).
        global_residual: output ``input + last decoder`` (True) or the last decoder's output (False,
            as DMPHN).
        padding_mode: ``"replicate"`` or ``"reflect"``, for inputs whose sides are not multiples of
            :attr:`stride`.

    ``encoders`` and ``decoders`` hold one module per level, in the order 4-patch, 2-patch, 1-patch.
    With the defaults the network has 5,424,393 parameters: three encoder-decoder pairs of
    1,808,131, the size of the authors' DMPHN encoder and decoder.

    Input ``(N, image_channels, H, W)`` of any size, nominally in ``[0, 1]``; output of the same shape,
    not clamped.

    >>> net = DHN(channels=(8, 16), blocks_per_stage=1)
    >>> net.stride
    4
    >>> net(torch.rand(1, 3, 37, 53)).shape
    torch.Size([1, 3, 37, 53])
    """

    def __init__(
        self,
        image_channels: int = 3,
        channels: Sequence[int] = (32, 64, 128),
        blocks_per_stage: int = 2,
        global_residual: bool = True,
        padding_mode: str = "replicate",
    ) -> None:
        channels = tuple(int(c) for c in channels)
        if not channels:
            raise ValueError("channels needs at least one stage")
        # Quadrants have half the image side and are downsampled len(channels) - 1 times.
        super().__init__(stride=2 * 2 ** (len(channels) - 1), padding_mode=padding_mode)
        self.global_residual = global_residual
        self.encoders = nn.ModuleList(PatchEncoder(image_channels, channels, blocks_per_stage) for _ in range(3))
        self.decoders = nn.ModuleList(PatchDecoder(image_channels, channels, blocks_per_stage) for _ in range(3))

    def level_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The encoder features of the 4-, 2- and 1-patch levels, each assembled into one map.

        Each map is ``(N, channels[-1], H' / s, W' / s)`` with ``s = 2 ** (len(channels) - 1)`` and
        ``H' x W'`` the input padded to a multiple of :attr:`stride` (the input itself when its sides
        are multiples). The 4-patch map is the four quadrant features side by side; the others
        include the features added from the level below, as the decoders see them.
        """
        return self._run(self.pad(images))[1]

    def forward_padded(self, images: torch.Tensor) -> torch.Tensor:
        return self._run(images)[0]

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        four_patch_encoder, two_patch_encoder, one_patch_encoder = self.encoders
        four_patch_decoder, two_patch_decoder, one_patch_decoder = self.decoders

        halves = split_rows(images)
        # Each half's features are its two quadrants' features side by side; decoding per half (not
        # per quadrant) is what lets the 4-patch residuals see across the vertical cut.
        half_features_from_quadrants = merge_columns(four_patch_encoder(split_columns(halves)))
        half_residuals = four_patch_decoder(half_features_from_quadrants)

        half_features = two_patch_encoder(halves + half_residuals) + half_features_from_quadrants
        two_patch_features = merge_rows(half_features)
        image_residual = two_patch_decoder(two_patch_features)

        one_patch_features = one_patch_encoder(images + image_residual) + two_patch_features
        restored = one_patch_decoder(one_patch_features)
        output = images + restored if self.global_residual else restored
        return output, [merge_rows(half_features_from_quadrants), two_patch_features, one_patch_features]
