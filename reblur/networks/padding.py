"""Padding images to a multiple of a network's stride and cropping the result back.

Encoder-decoder networks halve the resolution a few times and double it again; the sizes only
line up when the input height and width are multiples of the product of those factors (the
network's ``stride``). Here the input is padded on the bottom and right edges with replicated or
reflected border pixels up to the next multiple, the network runs on the padded image, and its
output is cropped back to the original ``H x W``. Padding only the bottom and right keeps the
original pixels at the same coordinates, so cropping is a plain slice and the round trip is exact.

Tensors are ``(N, C, H, W)``; values are not changed, only extended.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PADDING_MODES = ("replicate", "reflect")


def padded_length(length: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``length``.

    >>> padded_length(37, 8), padded_length(40, 8), padded_length(1, 16)
    (40, 40, 16)
    """
    if multiple < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple}")
    return -(-length // multiple) * multiple


def pad_to_multiple(images: torch.Tensor, multiple: int, mode: str = "replicate") -> torch.Tensor:
    """Pad ``(N, C, H, W)`` images on the bottom and right so that H and W are multiples of ``multiple``.

    ``mode`` is ``"replicate"`` (repeat the last row/column) or ``"reflect"`` (mirror without
    repeating the edge; it needs the padding to be smaller than the image side). Images whose sides
    are already multiples are returned as they are. Undo with :func:`crop_to_size`.

    >>> x = torch.arange(6.0).reshape(1, 1, 2, 3)
    >>> pad_to_multiple(x, 4)[0, 0]
    tensor([[0., 1., 2., 2.],
            [3., 4., 5., 5.],
            [3., 4., 5., 5.],
            [3., 4., 5., 5.]])
    >>> pad_to_multiple(x, 2, "reflect")[0, 0]
    tensor([[0., 1., 2., 1.],
            [3., 4., 5., 4.]])
    >>> torch.equal(crop_to_size(pad_to_multiple(x, 4), 2, 3), x)
    True
    """
    check_padding_mode(mode)
    if images.dim() != 4:
        raise ValueError(f"expected (N, C, H, W) images, got shape {tuple(images.shape)}")
    height, width = images.shape[-2:]
    pad_bottom = padded_length(height, multiple) - height
    pad_right = padded_length(width, multiple) - width
    if pad_bottom == 0 and pad_right == 0:
        return images
    if mode == "reflect" and (pad_bottom >= height or pad_right >= width):
        raise ValueError(
            f"reflect padding of a {height}x{width} image to a multiple of {multiple} needs more padding "
            f"({pad_bottom}, {pad_right}) than the image has pixels to mirror; use 'replicate'"
        )
    return F.pad(images, (0, pad_right, 0, pad_bottom), mode=mode)


def crop_to_size(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left ``height x width`` window of ``(..., H, W)`` images: the inverse of :func:`pad_to_multiple`.

    Images of that size already are returned as they are (the same tensor, not a view of it).
    """
    if images.shape[-2:] == (height, width):
        return images
    return images[..., :height, :width]


def check_padding_mode(mode: str) -> None:
    if mode not in PADDING_MODES:
        raise ValueError(f"padding mode must be one of {PADDING_MODES}, got {mode!r}")


class StridePaddedNet(nn.Module):
    """Base class of networks that accept images of any size by padding them to a multiple of ``stride``.

    Subclasses pass their ``stride`` (the size multiple their down- and upsampling needs) to
    ``__init__`` and implement :meth:`forward_padded`, which only ever sees images whose height and
    width are multiples of ``stride``. :meth:`forward` pads the ``(N, C, H, W)`` input with
    ``padding_mode`` (``"replicate"`` or ``"reflect"``), calls :meth:`forward_padded` and crops the
    result back to ``H x W``.

    The padding is applied to the network input, which normally does not require gradients; so the
    non-deterministic CUDA backward of replicate/reflect padding is not run in training.
    """

    def __init__(self, stride: int, padding_mode: str = "replicate") -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride}")
        check_padding_mode(padding_mode)
        self._stride = int(stride)
        self.padding_mode = padding_mode

    @property
    def stride(self) -> int:
        """Height and width of the images given to :meth:`forward_padded` are multiples of this."""
        return self._stride

    def pad(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` padded on the bottom and right to a multiple of :attr:`stride`."""
        return pad_to_multiple(images, self.stride, self.padding_mode)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Run the network on ``(N, C, H, W)`` images of any size; the output is cropped back to ``H x W``."""
        height, width = images.shape[-2:]
        return crop_to_size(self.forward_padded(self.pad(images)), height, width)

    def forward_padded(self, images: torch.Tensor) -> torch.Tensor:
        """The network proper, on images whose sides are multiples of :attr:`stride`."""
        raise NotImplementedError
