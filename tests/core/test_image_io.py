"""Image and kernel files: round trips, conventions, and errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from deblur_core.image_io import ImageReadError, read_image, save_image


def test_grayscale_and_colour_round_trip(tmp_path):
    gray = torch.from_numpy(np.arange(12, dtype=np.float32).reshape(1, 3, 4) / 11)
    save_image(tmp_path / "g.png", gray)
    back = read_image(tmp_path / "g.png")
    assert back.shape == (1, 3, 4)
    assert (back - gray).abs().max() <= 0.5 / 255 + 1e-6
    colour = torch.rand(3, 5, 6)
    save_image(tmp_path / "c.png", colour)
    assert read_image(tmp_path / "c.png").shape == (3, 5, 6)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_sixteen_bit_and_alpha(tmp_path):
    Image.fromarray(np.full((4, 5), 65535, dtype=np.uint16)).save(tmp_path / "w16.png")
    assert torch.allclose(read_image(tmp_path / "w16.png"), torch.ones(1, 4, 5))
    Image.fromarray(np.zeros((4, 5, 4), dtype=np.uint8)).save(tmp_path / "rgba.png")
    assert read_image(tmp_path / "rgba.png").shape == (3, 4, 5)


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ImageReadError, match="bad.png"):
        read_image(bad)
    good = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="truncated.png"):
        read_image(truncated)
