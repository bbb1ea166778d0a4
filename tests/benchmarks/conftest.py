"""Fixtures shared by the benchmark tests."""

from __future__ import annotations

import pytest
import torch

from deblur_core.image_io import save_image


@pytest.fixture
def block_photo_case(tmp_path) -> dict:
    """The fields of a ``benchmarks.selfdeblur_fast`` row for a small synthetic problem: a 64x64 colour photo of
    8x8 random blocks (saved under ``tmp_path``, seed 0), cropped to 40x48, blurred by ``random_motion_kernel(5,
    seed=1)`` with 0.5% noise."""
    g = torch.Generator().manual_seed(0)
    blocks = torch.rand(3, 8, 8, generator=g).repeat_interleave(8, 1).repeat_interleave(8, 2)
    save_image(tmp_path / "photo.png", blocks)
    return {
        "sharp": str(tmp_path / "photo.png"),
        "height": 40,
        "width": 48,
        "kernel_size": 5,
        "kernel_seed": 1,
        "noise": 0.005,
    }
