"""How much memory an image will need, known before any work starts.

SelfDeblur's memory is dominated by the feature maps G_x keeps for the backward pass, whose size is proportional
to the pixels it generates (``(H + k - 1) x (W + k - 1)`` in the paper's mode, the reduced window in the fast
mode). :func:`activation_bytes_per_pixel` measures them once per architecture and precision: one forward and
backward of G_x on a small input, counting every tensor autograd saves (``torch.autograd.graph.saved_tensors_hooks``)
and the largest gradient buffers, divided by the pixels. The estimate of a run is then

    peak = baseline + fixed + scale * activation_bytes_per_pixel * pixels + deconvolution

with ``baseline`` the memory the process holds before the work (the loaded libraries: on the CPU its resident
memory; on a GPU nothing), ``fixed`` and ``scale`` constants fitted once on peaks measured on the CPU in fp32
(G_k, the optimiser's state, the convolution library's workspaces; docs/results/selfdeblur_fast.md), and
``deconvolution`` the fast mode's full-resolution solve after the last step (float32 maps of one tile, plus
the photo itself).

Example:
    >>> from selfdeblur.options import FastMode, Generators
    >>> per_pixel = activation_bytes_per_pixel(Generators(image_channels=(8, 8), skip_channels=(4, 4),
    ...                                                   non_local_scales=0), torch.float32)
    >>> estimate = estimate_peak_bytes(720, 1280, 31, per_pixel, FastMode(), baseline=0)  # the paper's mode
    >>> estimate.pixels  # (720 + 30) x (1280 + 30)
    982500
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from selfdeblur.full_resolution import tile_margin
from selfdeblur.options import FastMode, Generators
from selfdeblur.reduced_problem import fast_mode_plan

# Fitted on the CPU in fp32 (docs/results/selfdeblur_fast.md, "memory"): the measured growth of the peak with the
# pixels, over the counted bytes per pixel (some saved maps are freed during the backward pass before the largest
# gradients exist), and what does not grow with them.
SCALE = 0.95
FIXED = 200 * 2**20
# Float32 maps the fast mode's deconvolution holds per channel and tile pixel (the blurry crop, its weights, the
# latent, CG's residual, direction and product, the right-hand side, 5 IRLS weights, FFT buffers).
DECONVOLUTION_MAPS = 28
PROBE_SIZE = 48  # side of G_x's output in the probe: small, and a multiple of 2**scales for 4 scales


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimated peak of one image: ``total`` bytes, of which ``baseline`` before the work, ``problem`` for the
    generators, ``deconvolution`` for the fast mode's full-resolution solve; ``pixels`` G_x generates."""

    total: int
    baseline: int
    problem: int
    deconvolution: int
    pixels: int
    mode: str

    def describe(self) -> str:
        return (
            f"{gib(self.total)} ({self.mode} mode: {gib(self.problem)} for G_x's {self.pixels:,} pixels"
            + (f", {gib(self.deconvolution)} for the full-resolution deconvolution" if self.deconvolution else "")
            + (f", {gib(self.baseline)} already in use" if self.baseline else "")
            + ")"
        )


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


@functools.lru_cache(maxsize=16)
def activation_bytes_per_pixel(generators: Generators, dtype: torch.dtype = torch.float32) -> float:
    """Bytes autograd saves per pixel of G_x's output in one forward and backward, plus the gradient of the
    largest feature map (measured on a ``PROBE_SIZE`` square on the CPU in ``dtype``)."""
    from selfdeblur.networks.image_generator import build_image_generator

    side = max(PROBE_SIZE, 2 ** (generators.scales + 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_image_generator(generators).to(dtype)
        z = torch.rand(1, generators.input_channels, side, side, dtype=dtype)
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(z)
    largest = max(seen.values(), default=0)
    out.mean().backward()
    return (sum(seen.values()) + 2 * largest) / (side * side)


def available_bytes(device: torch.device) -> int | None:
    """Memory the work may still take: on a GPU its free memory; on the CPU ``MemAvailable`` of ``/proc/meminfo``
    (None where unknown)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def estimate_peak_bytes(
    height: int,
    width: int,
    kernel_size: int,
    per_pixel: float,
    fast: FastMode,
    baseline: int,
    channels: int = 3,
) -> MemoryEstimate:
    """The peak of solving one ``height x width`` image with a ``kernel_size`` kernel (see the module docstring);
    ``per_pixel`` from :func:`activation_bytes_per_pixel`, ``baseline`` the bytes in use before the work."""
    deconvolution = 0
    plan = fast_mode_plan(fast, height, width, kernel_size)
    if plan is not None:
        h, w = plan.window_size
        pixels = (h + plan.kernel_size - 1) * (w + plan.kernel_size - 1)
        margin = tile_margin(kernel_size)
        tile_h, tile_w = min(height, fast.tile) + 2 * margin, min(width, fast.tile) + 2 * margin
        deconvolution = DECONVOLUTION_MAPS * 4 * channels * tile_h * tile_w + 4 * 3 * channels * height * width
        mode = "fast"
        pixels *= fast.draws  # the draws are solved together, each with its own maps
    else:
        pixels = (height + kernel_size - 1) * (width + kernel_size - 1)
        mode = "paper's"
    problem = FIXED + math.ceil(SCALE * per_pixel * pixels)
    # The deconvolution runs after the last step, but the memory G_x's feature maps held is kept by the process
    # (selfdeblur.host_memory) and not all of it is reused: the measured peaks are close to the sum.
    return MemoryEstimate(baseline + problem + deconvolution, baseline, problem, deconvolution, pixels, mode)
