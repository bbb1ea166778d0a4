"""Centre crops of image tensors."""

from __future__ import annotations

import torch


def center_crop(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The centre ``height x width`` window of the last two dimensions (a view).

    When the margin is odd, the extra pixel is dropped at the bottom / right.

    >>> center_crop(torch.arange(25).reshape(5, 5), 3, 2)
    tensor([[ 6,  7],
            [11, 12],
            [16, 17]])
    """
    top = (image.shape[-2] - height) // 2
    left = (image.shape[-1] - width) // 2
    return image[..., top : top + height, left : left + width]
