"""SRN: the scale-recurrent deblurring network of Tao et al., "Scale-recurrent Network for Deep Image
Deblurring", CVPR 2018 (SRN-DeblurNet).

The image is restored coarse to fine over ``scales`` resolutions, each half the size of the next
(factor 0.5). One network, with the same weights at every scale, runs at each scale on the
6-channel concatenation of

* the blurry image at that scale, and
* the estimate of the coarser scale upsampled x2 (at the coarsest scale: the blurry image itself).

The network is an encoder-decoder of :class:`~reblur.networks.blocks.ResBlock` (5x5
convs): an input stage (conv + ReLU to 32 channels, ResBlocks) and two stride-2 stages (conv +
ReLU to 64 and 128 channels, ResBlocks); a :class:`ConvLSTMCell` in the bottleneck; then, back up,
ResBlocks and 4x4 stride-2 transposed convs + ReLU whose outputs are *added* to the encoder
features of the same size; a 5x5 conv to the image. The ConvLSTM hidden and cell states are
upsampled x2 and carried to the next finer scale, which is what makes the network recurrent over
scales. The defaults follow the authors' released model: 3 ResBlocks per stage, a 3x3 ConvLSTM
with 128 channels, zero initial state, and no gradient through the upsampled estimate
(``detach_upsampled_estimate``); the estimate of every scale is returned, for the multi-scale loss.

Differences from the paper, on purpose:

* ``global_residual`` (on by default): each scale predicts ``blurry + net(...)`` instead of the
  image itself, as the other networks of this package; ``global_residual=False`` is the original.
* The pyramid is made by 2x2 averaging (bilinear resizing by 0.5 with half-pixel centres) and the
  upsampling is bilinear x2 with half-pixel centres, written with slices so that its backward is
  deterministic on CUDA (``F.interpolate``'s is not, and the ConvLSTM states need gradients).

The input sides must be multiples of ``stride = 2 ** (len(channels) - 1) * 2 ** (scales - 1)``
(16 by default); other sizes are padded and the outputs cropped back.

Images are ``(N, C, H, W)`` floats, nominally in ``[0, 1]``; outputs are not clamped, so losses see
the raw prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from reblur.networks.blocks import ResBlock, same_conv
from reblur.networks.padding import StridePaddedNet, crop_to_size, padded_length


def upsample2x_bilinear(features: torch.Tensor) -> torch.Tensor:
    """Double H and W of ``(N, C, H, W)`` by bilinear interpolation with half-pixel centres.

    Equal to ``F.interpolate(features, scale_factor=2, mode="bilinear", align_corners=False)``, but
    built from slices and sums, whose CUDA backward is deterministic.

    >>> upsample2x_bilinear(torch.tensor([[[[0.0, 4.0]]]]))
    tensor([[[[0., 1., 3., 4.],
              [0., 1., 3., 4.]]]])
    """

    def along(x: torch.Tensor, dim: int) -> torch.Tensor:
        length = x.shape[dim]
        # Output pixel 2i sits a quarter pixel before input pixel i, 2i + 1 a quarter after;
        # beyond the border the edge pixel is repeated.
        before = torch.cat([x.narrow(dim, 0, 1), x.narrow(dim, 0, length - 1)], dim)
        after = torch.cat([x.narrow(dim, 1, length - 1), x.narrow(dim, length - 1, 1)], dim)
        even = 0.75 * x + 0.25 * before
        odd = 0.75 * x + 0.25 * after
        return torch.stack([even, odd], dim=dim + 1).flatten(dim, dim + 1)

    return along(along(features, 2), 3)


def downsample2x(images: torch.Tensor) -> torch.Tensor:
    """Halve even H and W of ``(N, C, H, W)`` by averaging 2x2 blocks (= bilinear x0.5, half-pixel centres)."""
    return F.avg_pool2d(images, 2)


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell (Shi et al., NeurIPS 2015, without peephole connections).

    One ``kernel_size`` convolution of ``[input, hidden]`` gives the four gates, in the channel
    order input ``i``, forget ``f``, output ``o``, candidate ``g``::

        i, f, o = sigmoid(.), g = tanh(.)
        cell'   = f * cell + i * g
        hidden' = o * tanh(cell')

    The forget-gate bias starts at 1 (as ``forget_bias=1`` in the cell SRN's authors used) so that
    the state is kept rather than forgotten early in training.

    Args:
        input_channels: channels of the input.
        hidden_channels: channels of the hidden and cell states.
        kernel_size: odd side of the gate convolution (3 in SRN).

    ``forward(input, state)`` takes ``(N, input_channels, H, W)`` and ``state = (hidden, cell)``,
    each ``(N, hidden_channels, H, W)`` (``None``: zeros), and returns the new ``(hidden, cell)``.

    >>> cell = ConvLSTMCell(2, 4)
    >>> hidden, state = cell(torch.zeros(1, 2, 5, 6))
    >>> hidden.shape, state.shape
    (torch.Size([1, 4, 5, 6]), torch.Size([1, 4, 5, 6]))
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = same_conv(input_channels + hidden_channels, 4 * hidden_channels, kernel_size)
        bias = self.gates.bias
        assert bias is not None  # same_conv's convolutions have a bias
        with torch.no_grad():
            bias[hidden_channels : 2 * hidden_channels].fill_(1.0)

    def forward(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            zeros = inputs.new_zeros(inputs.shape[0], self.hidden_channels, *inputs.shape[2:])
            state = (zeros, zeros)
        hidden, cell = state
        input_gate, forget_gate, output_gate, candidate = self.gates(torch.cat([inputs, hidden], dim=1)).chunk(4, dim=1)
        cell = torch.sigmoid(forget_gate) * cell + torch.sigmoid(input_gate) * torch.tanh(candidate)
        hidden = torch.sigmoid(output_gate) * torch.tanh(cell)
        return hidden, cell


def res_blocks(channels: int, count: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(channels, kernel_size) for _ in range(count)))


class SRN(StridePaddedNet):
    """Scale-recurrent network (Tao et al., CVPR 2018); see the module docstring.

    Args:
        image_channels: channels of the input and output images (3); each scale sees twice that.
        scales: number of scales, each half the size of the next (3).
        channels: feature channels of the encoder stages, shallowest first (32, 64, 128); each stage
            after the first halves the resolution, and the ConvLSTM has ``channels[-1]`` channels.
        blocks_per_stage: ResBlocks in each encoder and each decoder stage (3).
        kernel_size: odd side of the convolution kernels (5).
        lstm_kernel_size: odd side of the ConvLSTM gate convolution (3).
        detach_upsampled_estimate: stop the gradient through the coarser estimate fed to the next
            scale, as the authors' code; the ConvLSTM states still carry gradients across scales.
        global_residual: each scale predicts ``blurry + net(...)`` (True) or the image itself (False,
            as the paper).
        padding_mode: ``"replicate"`` or ``"reflect"``, for inputs whose sides are not multiples of
            :attr:`stride`.

    The weights are shared across scales, so the parameter count does not depend on ``scales``:
    8,061,411 with the defaults, the 8.06 M the paper reports for SRN-DeblurNet.

    ``forward(x)`` returns the finest estimate, ``(N, image_channels, H, W)`` for an input of that
    shape (any H, W); :meth:`forward_scales` returns the estimates of all scales, coarse to fine, and
    :meth:`image_pyramid` the matching pyramid of any image (e.g. the sharp target), for the
    multi-scale loss. Inputs are nominally in ``[0, 1]``; outputs are not clamped.

    >>> net = SRN(channels=(8, 16), blocks_per_stage=1)
    >>> net.stride
    8
    >>> [tuple(e.shape) for e in net.forward_scales(torch.rand(1, 3, 32, 48))]
    [(1, 3, 8, 12), (1, 3, 16, 24), (1, 3, 32, 48)]
    >>> net(torch.rand(1, 3, 37, 53)).shape
    torch.Size([1, 3, 37, 53])
    """

    def __init__(
        self,
        image_channels: int = 3,
        scales: int = 3,
        channels: Sequence[int] = (32, 64, 128),
        blocks_per_stage: int = 3,
        kernel_size: int = 5,
        lstm_kernel_size: int = 3,
        detach_upsampled_estimate: bool = True,
        global_residual: bool = True,
        padding_mode: str = "replicate",
    ) -> None:
        channels = tuple(int(c) for c in channels)
        if not channels:
            raise ValueError("channels needs at least one stage")
        if scales < 1:
            raise ValueError(f"scales must be at least 1, got {scales}")
        super().__init__(stride=2 ** (len(channels) - 1 + scales - 1), padding_mode=padding_mode)
        self.scales = scales
        self.detach_upsampled_estimate = detach_upsampled_estimate
        self.global_residual = global_residual
        encoder_stages = [
            nn.Sequential(
                same_conv(2 * image_channels, channels[0], kernel_size),
                nn.ReLU(inplace=True),
                res_blocks(channels[0], blocks_per_stage, kernel_size),
            )
        ]
        encoder_stages += [
            nn.Sequential(
                same_conv(shallower, deeper, kernel_size, stride=2),
                nn.ReLU(inplace=True),
                res_blocks(deeper, blocks_per_stage, kernel_size),
            )
            for shallower, deeper in pairwise(channels)
        ]
        self.encoder_stages = nn.ModuleList(encoder_stages)
        self.recurrent_cell = ConvLSTMCell(channels[-1], channels[-1], lstm_kernel_size)
        self.bottleneck_blocks = res_blocks(channels[-1], blocks_per_stage, kernel_size)
        # Index i of the two lists below belongs to encoder stage i (upsampling from stage i + 1 into it).
        self.upsamplers = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(deeper, shallower, 4, stride=2, padding=1), nn.ReLU(inplace=True))
            for shallower, deeper in pairwise(channels)
        )
        self.decoder_stages = nn.ModuleList(res_blocks(width, blocks_per_stage, kernel_size) for width in channels[:-1])
        self.output_conv = same_conv(channels[0], image_channels, kernel_size)

    def image_pyramid(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images`` at every scale, coarse to fine, as the network sees them.

        The scale ``k`` steps below the finest has sides ``ceil(H / 2**k)`` x ``ceil(W / 2**k)``: the
        padded image is halved ``k`` times by 2x2 averaging and cropped to the part that covers the
        original pixels. The coarse outputs of :meth:`forward_scales` have the same sizes.
        """
        height, width = images.shape[-2:]
        return self._crop_scales(self._padded_pyramid(self.pad(images)), height, width)

    def forward_scales(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The estimates of all ``scales`` scales, coarse to fine, for ``(N, C, H, W)`` blurry images.

        Sizes are those of :meth:`image_pyramid`: ``H/4, H/2, H`` (and the same for W) with 3 scales
        when H and W are multiples of :attr:`stride`. The last one is :meth:`forward`'s output.
        """
        height, width = images.shape[-2:]
        return self._crop_scales(self._estimates(self.pad(images)), height, width)

    def forward_padded(self, images: torch.Tensor) -> torch.Tensor:
        return self._estimates(images)[-1]

    def _padded_pyramid(self, padded: torch.Tensor) -> list[torch.Tensor]:
        pyramid = [padded]
        for _ in range(self.scales - 1):
            pyramid.append(downsample2x(pyramid[-1]))
        return pyramid[::-1]

    def _crop_scales(self, per_scale: list[torch.Tensor], height: int, width: int) -> list[torch.Tensor]:
        cropped = []
        for steps_below_finest, tensor in zip(range(self.scales - 1, -1, -1), per_scale):
            factor = 2**steps_below_finest
            cropped.append(
                crop_to_size(tensor, padded_length(height, factor) // factor, padded_length(width, factor) // factor)
            )
        return cropped

    def _estimates(self, padded: torch.Tensor) -> list[torch.Tensor]:
        estimates: list[torch.Tensor] = []
        state: tuple[torch.Tensor, torch.Tensor] | None = None
        for blurry in self._padded_pyramid(padded):
            if estimates:
                previous = upsample2x_bilinear(estimates[-1])
                if self.detach_upsampled_estimate:
                    previous = previous.detach()
                assert state is not None  # returned with the coarser scale's estimate
                state = (upsample2x_bilinear(state[0]), upsample2x_bilinear(state[1]))
            else:
                previous = blurry
            estimate, state = self._restore_one_scale(blurry, previous, state)
            estimates.append(estimate)
        return estimates

    def _restore_one_scale(
        self, blurry: torch.Tensor, previous: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The estimate at one scale and the ConvLSTM state to carry to the next."""
        features = torch.cat([blurry, previous], dim=1)
        skips = []
        for stage in self.encoder_stages:
            features = stage(features)
            skips.append(features)
        hidden, cell = self.recurrent_cell(skips.pop(), state)
        features = self.bottleneck_blocks(hidden)
        for level in reversed(range(len(skips))):
            features = self.decoder_stages[level](self.upsamplers[level](features) + skips[level])
        restored = self.output_conv(features)
        return (blurry + restored if self.global_residual else restored), (hidden, cell)
