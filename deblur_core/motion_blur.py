"""Synthetic motion blur: seeded random camera-shake kernels, and images blurred with them.

The kernels follow the idea of Boracchi and Foi ("Modeling the performance of image restoration
from motion blur", IEEE TIP 2012): the camera path is a random walk whose velocity changes by
small Gaussian accelerations, is pulled back towards the start, and now and then jumps. The path
is scaled to a chosen extent and splatted (bilinearly) onto a ``k x k`` grid.
"""

from __future__ import annotations

import numpy as np
import torch

from deblur_core.blur import convolve_valid


def random_motion_kernel(
    size: int,
    seed: int,
    extent: float | None = None,
    steps: int = 64,
    jitter: float = 0.3,
    pull: float = 0.05,
    jump_probability: float = 0.05,
) -> torch.Tensor:
    """A random camera-shake blur kernel in convolution orientation.

    Args:
        size: side ``k`` of the kernel (odd, >= 3).
        seed: random seed; equal seeds give equal kernels.
        extent: length in pixels of the longer side of the path's bounding box; by default drawn
            uniformly from ``[0.5, 1] * (size - 2)``.
        steps: number of points of the path.
        jitter: standard deviation of the per-step change of velocity (relative to unit speed).
        pull: strength of the pull back towards the start of the path.
        jump_probability: chance per step of an abrupt change of direction.

    Returns:
        ``(size, size)`` float32 tensor, non-negative, summing to 1, its centre of mass within half
        a pixel of the centre.
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 3, got {size}")
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi)
    velocity = np.array([np.cos(angle), np.sin(angle)])
    position = np.zeros(2)
    path = [position.copy()]
    for _ in range(steps - 1):
        velocity = velocity + jitter * rng.standard_normal(2) - pull * position / max(len(path), 1) ** 0.5
        if rng.uniform() < jump_probability:
            velocity = velocity + 2 * rng.standard_normal(2)
        speed = np.linalg.norm(velocity)
        velocity = velocity / speed if speed > 0 else velocity
        position = position + velocity
        path.append(position.copy())
    points = np.asarray(path)
    if extent is None:
        extent = rng.uniform(0.5, 1.0) * (size - 2)
    span = np.ptp(points, axis=0).max()
    points = (points - points.min(axis=0)) * (extent / span if span > 0 else 0.0)

    # Resample densely along the path so the splat is a continuous stroke.
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    dense = np.linspace(0.0, arc[-1], max(int(arc[-1] * 8), 2))
    points = np.stack([np.interp(dense, arc, points[:, 0]), np.interp(dense, arc, points[:, 1])], axis=1)

    # Centre of mass at the kernel centre; shrink about it if the path would leave the grid.
    points = points - points.mean(axis=0)
    reach = np.abs(points).max()
    if reach > (size - 1) / 2:
        points = points * ((size - 1) / 2 / reach)
    kernel = np.zeros((size + 2, size + 2))  # one guard pixel on each side for the bilinear splat
    points = points + (size - 1) / 2 + 1
    base = np.floor(points).astype(int)
    frac = points - base
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        w = (frac[:, 0] if dy else 1 - frac[:, 0]) * (frac[:, 1] if dx else 1 - frac[:, 1])
        np.add.at(kernel, (base[:, 0] + dy, base[:, 1] + dx), w)
    kernel = kernel[1:-1, 1:-1]
    return torch.from_numpy(kernel / kernel.sum()).float()


def blur(sharp: torch.Tensor, kernel: torch.Tensor, noise_sigma: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Blur ``(C, Hs, Ws)`` with a convolution ``kernel`` ('valid': the result is ``(C, Hs-k+1, Ws-k+1)``).

    Adds i.i.d. Gaussian noise of standard deviation ``noise_sigma`` (seeded) and clamps to [0, 1].
    """
    out = convolve_valid(sharp.unsqueeze(0), kernel)[0]
    if noise_sigma > 0:
        g = torch.Generator().manual_seed(seed)
        out = out + noise_sigma * torch.randn(out.shape, generator=g)
    return out.clamp(0, 1)


def spatially_varying_blur(
    sharp: torch.Tensor, kernels: torch.Tensor, angle: float, noise_sigma: float = 0.0, seed: int = 0
) -> torch.Tensor:
    r"""Blur ``(C, Hs, Ws)`` with two kernels blended across the frame ('valid': ``(C, Hs-k+1, Ws-k+1)``).

    ``kernels`` is ``(2, k, k)`` (convolution orientation). The weight of the first kernel falls linearly from 1
    to 0 along the direction ``angle`` (radians; 0 is left to right) over the output frame, so the blur changes
    smoothly across the image, as under camera rotation or scene depth:
    :math:`B = w \cdot (k_0 * x) + (1 - w) \cdot (k_1 * x)`, i.e. each output pixel is blurred by the kernel
    :math:`w k_0 + (1 - w) k_1` (the blur operator stays a per-pixel convex mix of the two). Noise and clamping
    as :func:`blur`.
    """
    if kernels.ndim != 3 or kernels.shape[0] != 2:
        raise ValueError(f"kernels must be (2, k, k), got {tuple(kernels.shape)}")
    first = convolve_valid(sharp.unsqueeze(0), kernels[0])[0]
    second = convolve_valid(sharp.unsqueeze(0), kernels[1])[0]
    height, width = first.shape[-2:]
    ys = torch.linspace(-0.5, 0.5, height).view(-1, 1)
    xs = torch.linspace(-0.5, 0.5, width).view(1, -1)
    along = xs * np.cos(angle) + ys * np.sin(angle)
    weight = (along - along.min()) / (along.max() - along.min()).clamp_min(1e-12)
    out = (1 - weight) * first + weight * second
    if noise_sigma > 0:
        g = torch.Generator().manual_seed(seed)
        out = out + noise_sigma * torch.randn(out.shape, generator=g)
    return out.clamp(0, 1)
