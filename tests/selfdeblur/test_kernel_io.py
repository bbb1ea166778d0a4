"""Kernels on disk: PNG for viewing, .npy for the values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from deblur_core.image_io import ImageReadError
from selfdeblur.kernel_io import read_kernel, save_kernel


def test_kernel_files(tmp_path):
    kernel = torch.rand(7, 7)
    kernel /= kernel.sum()
    save_kernel(tmp_path / "k.png", tmp_path / "k.npy", kernel)
    torch.testing.assert_close(read_kernel(tmp_path / "k.npy"), kernel)
    png = np.asarray(Image.open(tmp_path / "k.png"))
    assert png.max() == 255 and png.shape == (7, 7)
    from_png = read_kernel(tmp_path / "k.png")  # scaled to max 255: divided by its sum on reading
    assert torch.isclose(from_png.sum(), torch.tensor(1.0)) and (from_png - kernel).abs().max() < 2e-3
    np.save(tmp_path / "neg.npy", -np.ones((3, 3)))
    with pytest.raises(ImageReadError, match="neg.npy"):
        read_kernel(tmp_path / "neg.npy")


def test_an_rgb_kernel_image_with_equal_channels_reads_as_lai_ships_it(tmp_path):
    gray = np.zeros((5, 5), dtype=np.uint8)
    gray[2, 1:4] = [60, 120, 60]
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "kernel_01.png")
    kernel = read_kernel(tmp_path / "kernel_01.png")
    assert kernel.shape == (5, 5) and torch.allclose(kernel[2, 1:4], torch.tensor([0.25, 0.5, 0.25]))
    coloured = np.stack([gray, gray, gray // 2], axis=-1)
    Image.fromarray(coloured).save(tmp_path / "odd.png")
    with pytest.raises(ValueError, match="channels that differ"):
        read_kernel(tmp_path / "odd.png")
