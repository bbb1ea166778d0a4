"""YCbCr conversion: round trip, and agreement with Pillow's (independent) JPEG conversion."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from deblur_core.color import merge_luminance, rgb_to_ycbcr, split_luminance, ycbcr_to_rgb


def test_round_trip():
    rgb = torch.rand(2, 3, 16, 9, dtype=torch.float64)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb)
    y, chroma = split_luminance(rgb[0])
    assert y.shape == (1, 16, 9) and chroma.shape == (2, 16, 9)
    torch.testing.assert_close(merge_luminance(y, chroma), rgb[0])


def test_grayscale_stays_grayscale():
    gray = torch.rand(1, 5, 6)
    y, chroma = split_luminance(gray)
    assert chroma is None and torch.equal(y, gray)
    assert merge_luminance(y, None).shape == (1, 5, 6)


def test_gray_rgb_has_neutral_chroma():
    gray = torch.rand(1, 4, 4).expand(3, 4, 4)
    ycbcr = rgb_to_ycbcr(gray)
    torch.testing.assert_close(ycbcr[0], gray[0])
    torch.testing.assert_close(ycbcr[1:], torch.full((2, 4, 4), 0.5))


def test_matches_pillow():
    rng = np.random.default_rng(0)
    rgb8 = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pillow = np.asarray(Image.fromarray(rgb8).convert("YCbCr"), dtype=np.float64)
    ours = rgb_to_ycbcr(torch.from_numpy(rgb8).permute(2, 0, 1).double() / 255).permute(1, 2, 0).numpy() * 255
    assert np.abs(ours - pillow).max() <= 1.0  # Pillow rounds to 8 bits
