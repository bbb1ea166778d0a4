"""Spatially varying synthetic blur: two kernels blended across the frame."""

from __future__ import annotations

import math

import torch

from deblur_core.blur import convolve_valid
from deblur_core.motion_blur import blur, random_motion_kernel, spatially_varying_blur


def test_equal_kernels_give_the_uniform_blur() -> None:
    sharp = torch.rand(3, 30, 40, generator=torch.Generator().manual_seed(0))
    kernel = random_motion_kernel(7, 3)
    varying = spatially_varying_blur(sharp, torch.stack([kernel, kernel]), angle=0.7)
    assert torch.allclose(varying, blur(sharp, kernel), atol=1e-6)


def test_the_blend_runs_from_the_first_kernel_to_the_second_along_the_angle() -> None:
    sharp = torch.rand(1, 26, 36, generator=torch.Generator().manual_seed(1))
    k0, k1 = random_motion_kernel(7, 1), random_motion_kernel(7, 2)
    first, second = (convolve_valid(sharp[None], k)[0] for k in (k0, k1))
    left_to_right = spatially_varying_blur(sharp, torch.stack([k0, k1]), angle=0.0)
    assert torch.allclose(left_to_right[..., 0], first[..., 0].clamp(0, 1), atol=1e-6)
    assert torch.allclose(left_to_right[..., -1], second[..., -1].clamp(0, 1), atol=1e-6)
    # column j of the 30 output columns: weight j / 29 on the second kernel
    weight = torch.arange(30) / 29
    assert torch.allclose(left_to_right, ((1 - weight) * first + weight * second).clamp(0, 1), atol=1e-6)
    top_to_bottom = spatially_varying_blur(sharp, torch.stack([k0, k1]), angle=math.pi / 2)
    assert torch.allclose(top_to_bottom[..., 0, :], first[..., 0, :].clamp(0, 1), atol=1e-6)
    assert torch.allclose(top_to_bottom[..., -1, :], second[..., -1, :].clamp(0, 1), atol=1e-6)
