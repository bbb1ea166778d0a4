"""G_k: generators of SelfDeblur's blur kernel.

Every generator maps a fixed input to a ``k x k`` kernel whose entries are the softmax of the
network's ``k * k`` outputs, so the kernel is non-negative and sums to one by construction.
The kernel is returned in the orientation the forward model uses, i.e. as a *correlation*
filter (see :mod:`deblur_core.blur` for the flip to convolution orientation).

Variants (Ren et al., CVPR 2020, Sec. 3 and the ablation of the kernel prior):

* ``FCKernelGenerator(hidden=(1000,))``: the paper's G_k, Linear(200 -> 1000) -> ReLU6 ->
  Linear(1000 -> k*k) -> softmax; 490,289 parameters for k = 17.
* ``FCKernelGenerator(hidden=())``: no hidden layer, Linear(200 -> k*k) -> softmax.
* ``FCKernelGenerator(hidden=(1000, 1000))``: one extra hidden layer.
* ``DIPKernelGenerator``: a small convolutional skip autoencoder on a ``k x k`` noise map followed by
  the same softmax, as Double-DIP models the kernel with an image-like prior.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from selfdeblur.networks.image_generator import SkipGenerator


def _softmax_kernel(logits: torch.Tensor, kernel_size: int) -> torch.Tensor:
    return torch.softmax(logits.reshape(-1), dim=0).reshape(kernel_size, kernel_size)


class FCKernelGenerator(nn.Module):
    """Fully connected kernel generator.

    Args:
        kernel_size: side ``k`` of the square kernel.
        in_features: length of the input code (200 in the paper).
        hidden: widths of the hidden layers, each followed by ReLU6.

    Shapes:
        input ``(in_features,)``, output ``(k, k)`` non-negative, summing to 1.

    Example:
        >>> g = FCKernelGenerator(5, in_features=10, hidden=(20,))
        >>> k = g(torch.rand(10)).detach()
        >>> k.shape, round(float(k.sum()), 6)
        (torch.Size([5, 5]), 1.0)
    """

    def __init__(self, kernel_size: int, in_features: int = 200, hidden: Sequence[int] = (1000,)) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.in_features = in_features
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU6()]
            width = h
        layers.append(nn.Linear(width, kernel_size * kernel_size))
        self.net = nn.Sequential(*layers)

    def input_shape(self) -> tuple[int, ...]:
        return (self.in_features,)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _softmax_kernel(self.net(z), self.kernel_size)

    @torch.no_grad()
    def start_at(self, kernel: torch.Tensor, floor: float = 1e-6, weight_scale: float = 0.01) -> None:
        """Make the generator output about ``kernel`` (``(k, k)``, non-negative): the last layer's bias becomes
        :math:`\\log(kernel + floor)` and its weights shrink by ``weight_scale``, so that
        :math:`\\mathrm{softmax}(W h + b) \\approx (kernel + floor) / \\sum (kernel + floor)` for any input
        :math:`h`. The layers before keep their (seeded) values, and everything stays trainable.

        Example:
            >>> g = FCKernelGenerator(3, in_features=4, hidden=(8,))
            >>> target = torch.tensor([[0.0, 0.0, 0.0], [0.2, 0.6, 0.2], [0.0, 0.0, 0.0]])
            >>> g.start_at(target)
            >>> bool((g(torch.rand(4)) - target).abs().max() < 0.02)
            True
        """
        if kernel.shape != (self.kernel_size, self.kernel_size):
            raise ValueError(f"kernel {tuple(kernel.shape)} is not {self.kernel_size}x{self.kernel_size}")
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        last.weight.mul_(weight_scale)
        last.bias.copy_(torch.log(kernel.to(last.bias).clamp_min(0).reshape(-1) + floor))


class DIPKernelGenerator(nn.Module):
    """Convolutional (deep-image-prior style) kernel generator.

    Args:
        kernel_size: side ``k`` of the square kernel.
        in_channels: channels of the ``k x k`` noise input.
        channels: encoder/decoder channels per scale (scales that would shrink the kernel below
            2x2 pixels are dropped).
        skip_channels: skip-branch channels per scale.

    Shapes:
        input ``(in_channels, k, k)``, output ``(k, k)`` non-negative, summing to 1.
    """

    def __init__(
        self,
        kernel_size: int,
        in_channels: int = 8,
        channels: Sequence[int] = (64, 64, 64),
        skip_channels: Sequence[int] = (4, 4, 4),
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.in_channels = in_channels
        # Fewer scales for small kernels: the deepest feature map must keep at least 2x2 pixels.
        scales, side = 0, kernel_size
        while scales < len(channels) and (side + 1) // 2 >= 2:
            side, scales = (side + 1) // 2, scales + 1
        self.net = SkipGenerator(
            in_channels=in_channels,
            out_channels=1,
            down_channels=list(channels)[:scales],
            skip_channels=list(skip_channels)[:scales],
            non_local_scales=0,
            sigmoid=False,
        )

    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.kernel_size, self.kernel_size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _softmax_kernel(self.net(z.unsqueeze(0)), self.kernel_size)


KernelGenerator = FCKernelGenerator | DIPKernelGenerator

KERNEL_GENERATORS = ("fc", "dip")


def build_kernel_generator(kind: str, kernel_size: int, hidden: Sequence[int] = (1000,)) -> KernelGenerator:
    """Build G_k by name: ``"fc"`` (with ``hidden`` widths) or ``"dip"``."""
    if kind == "fc":
        return FCKernelGenerator(kernel_size, hidden=hidden)
    if kind == "dip":
        return DIPKernelGenerator(kernel_size)
    raise ValueError(f"kernel_generator must be one of {KERNEL_GENERATORS}, got {kind!r}")
