"""Dot-product non-local block (Wang et al., CVPR 2018, "Non-local Neural Networks").

SelfDeblur's image generator inserts this block in its three deepest encoder scales so that
distant pixels of the latent image can share information.
"""

from __future__ import annotations

import torch
from torch import nn


class NonLocalBlock(nn.Module):
    r"""Residual dot-product non-local block with sub-sampled keys and values.

    For a feature map :math:`x` with :math:`N` positions,

    .. math::
        z_i = x_i + W\Big(\frac{1}{N'} \sum_j \theta(x_i)^\top \phi(x)_j \, g(x)_j\Big)

    where :math:`\theta, \phi, g` are 1x1 convolutions to ``channels // 2`` channels, :math:`\phi`
    and :math:`g` are followed by 2x2 max pooling (so :math:`j` runs over the :math:`N'`
    pooled positions), and :math:`W` is a 1x1 convolution back to ``channels`` followed by
    batch normalisation whose scale and shift start at zero, so the block starts as the identity.

    Args:
        channels: number of input (and output) channels ``C``.

    Shapes:
        input ``(B, C, H, W)``, output ``(B, C, H, W)``.

    Example:
        >>> block = NonLocalBlock(16)
        >>> block(torch.rand(1, 16, 9, 7)).shape
        torch.Size([1, 16, 9, 7])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(channels // 2, 1)
        self.inner = inner
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.MaxPool2d(2))
        self.g = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.MaxPool2d(2))
        project, norm = nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels)
        # Zero-initialised output normalisation: the block is the identity at the start.
        nn.init.zeros_(norm.weight)
        nn.init.zeros_(norm.bias)
        self.out = nn.Sequential(project, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        query = self.theta(x).flatten(2).transpose(1, 2)  # (B, N, C')
        key = self.phi(x).flatten(2)  # (B, C', N')
        value = self.g(x).flatten(2).transpose(1, 2)  # (B, N', C')
        affinity = torch.bmm(query, key) / key.shape[-1]  # (B, N, N')
        y = torch.bmm(affinity, value).transpose(1, 2).reshape(b, self.inner, h, w)
        return x + self.out(y)
