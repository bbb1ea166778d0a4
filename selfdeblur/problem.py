"""One SelfDeblur problem: a blurry image with its own G_x, G_k and their fixed inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from deblur_core.blur import correlate_valid
from deblur_core.color import split_luminance
from deblur_core.crop import center_crop
from selfdeblur.networks.kernel_generator import KernelGenerator


class Estimate(NamedTuple):
    """The generators' output for one problem.

    ``latent``: G_x(z_x), ``(1, 1, H + k - 1, W + k - 1)`` in (0, 1); ``filter``: G_k(z_k),
    ``(k, k)`` correlation filter; ``reblurred``: their 'valid' correlation, ``(1, 1, H, W)``.
    """

    latent: torch.Tensor
    filter: torch.Tensor
    reblurred: torch.Tensor


class DeblurProblem(nn.Module):
    """G_x and G_k for one blurry image, the image's luminance as target, and the fixed inputs.

    Args:
        name: name of the image (used in messages and output file names).
        blurry: ``(C, H, W)`` in [0, 1], C = 1 or 3; colour images are solved on their Y channel.
        kernel_size: odd kernel side ``k``.
        image_generator: G_x, mapping ``(1, c, H + k - 1, W + k - 1)`` noise to ``(1, 1, ., .)``.
        kernel_generator: G_k, mapping ``z_k`` to a ``(k, k)`` filter; has ``input_shape()``.
        image_input: ``z_x``, ``(1, c, H + k - 1, W + k - 1)``.
        kernel_input: ``z_k``, of shape ``kernel_generator.input_shape()``.

    :attr:`blur_method` (``method`` of :func:`deblur_core.blur.correlate_valid`) and :attr:`memory_format`
    (of ``z_x`` and G_x's feature maps) are set by :class:`selfdeblur.problem_batch.ProblemBatch`.
    """

    # Buffers and submodules, declared for type checkers (nn.Module's __getattr__ types them all as Tensor | Module).
    target: torch.Tensor
    chroma: torch.Tensor | None
    image_input: torch.Tensor
    kernel_input: torch.Tensor
    image_generator: nn.Module
    kernel_generator: nn.Module

    def __init__(
        self,
        name: str,
        blurry: torch.Tensor,
        kernel_size: int,
        image_generator: nn.Module,
        kernel_generator: nn.Module,
        image_input: torch.Tensor,
        kernel_input: torch.Tensor,
    ) -> None:
        super().__init__()
        self.name = name
        self.kernel_size = kernel_size
        luminance, chroma = split_luminance(blurry.float())
        self.register_buffer("target", luminance.unsqueeze(0))  # (1, 1, H, W)
        self.register_buffer("chroma", chroma)  # (2, H, W) or None
        self.register_buffer("image_input", image_input)
        self.register_buffer("kernel_input", kernel_input)
        self.image_generator = image_generator
        self.kernel_generator = kernel_generator
        self.blur_method = "direct"
        self.memory_format = torch.contiguous_format

    @property
    def height(self) -> int:
        return self.target.shape[-2]

    @property
    def width(self) -> int:
        return self.target.shape[-1]

    def perturbed_input(self, perturbation: torch.Tensor | None) -> torch.Tensor:
        """``z_x + perturbation`` (shape of ``z_x``; ``None``: ``z_x``), in ``z_x``'s memory format."""
        if perturbation is None:
            return self.image_input
        return self.image_input + perturbation.contiguous(memory_format=self.memory_format)

    def forward(self, perturbation: torch.Tensor | None = None) -> Estimate:
        """Generate latent image and filter from ``z_x + perturbation`` and ``z_k``, and blur one with the other."""
        latent = self.image_generator(self.perturbed_input(perturbation))
        filt = self.kernel_generator(self.kernel_input)
        return Estimate(latent, filt, correlate_valid(latent, filt, self.blur_method))

    def crop(self, latent: torch.Tensor) -> torch.Tensor:
        """Centre ``H x W`` of a latent image (the part the blurry image shows)."""
        return center_crop(latent, self.height, self.width)


def make_problem(
    name: str,
    blurry: torch.Tensor,
    kernel_size: int,
    image_generator: Callable[[], nn.Module],
    kernel_generator: Callable[[int], KernelGenerator],
    input_channels: int,
    seed: int,
) -> DeblurProblem:
    """Build a problem with all random initial values drawn from ``seed`` (CPU RNG, fixed order):
    ``z_x ~ U[0, 0.1)``, then G_x's weights, then G_k's weights, then ``z_k ~ U[0, 0.1)``.

    Everything is drawn in float32 whatever the default dtype (Lightning's "64-true" makes it
    float64 during the fit, which would draw other numbers): a run in another precision starts
    from the same values, converted."""
    h, w = blurry.shape[-2:]
    pad = kernel_size - 1
    default_dtype = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_default_dtype(torch.float32)
        try:
            z_x = torch.rand(1, input_channels, h + pad, w + pad) * 0.1
            g_x = image_generator()
            g_k = kernel_generator(kernel_size)
            z_k = torch.rand(g_k.input_shape()) * 0.1
        finally:
            torch.set_default_dtype(default_dtype)
    return DeblurProblem(name, blurry, kernel_size, g_x, g_k, z_x, z_k)
