"""YCbCr conversion (round trip, Pillow's JPEG conversion) and the luma conventions of the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from deblur_core.color import (
    merge_luminance,
    rgb_to_gray,
    rgb_to_y,
    rgb_to_ycbcr,
    split_luminance,
    to_luma,
    ycbcr_to_rgb,
)


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


def test_gray_is_matlab_rgb2gray():
    # MATLAB's rgb2gray takes the Y row of the inverse of rgb2ntsc's YIQ-to-RGB matrix (its documentation
    # rounds the weights to 0.2989, 0.5870, 0.1140); derived here independently with NumPy.
    yiq_to_rgb = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])
    weights = np.linalg.inv(yiq_to_rgb)[0]
    assert np.round(weights, 4).tolist() == [0.2989, 0.587, 0.114]
    rgb = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    expected = np.einsum("c,nchw->nhw", weights, rgb.numpy())[:, None]
    np.testing.assert_allclose(rgb_to_gray(rgb).numpy(), expected, rtol=0, atol=1e-15)
    # On 8-bit images MATLAB rounds the result to integers: pure red is 76, green 150, blue 29.
    primaries = torch.eye(3, dtype=torch.float64).T.reshape(1, 3, 1, 3) * 255
    assert rgb_to_gray(primaries).round().flatten().tolist() == [76.0, 150.0, 29.0]


def test_luma_conventions_by_name():
    rgb = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    assert torch.equal(to_luma(rgb, "rgb"), rgb)
    assert torch.equal(to_luma(rgb, "y"), rgb_to_y(rgb))
    assert torch.equal(to_luma(rgb, "gray"), rgb_to_gray(rgb))
    one_channel = rgb[:, :1]
    assert all(torch.equal(to_luma(one_channel, c), one_channel) for c in ("rgb", "y", "gray"))
    # Studio range (y) and full range (gray) differ: white is 235/255 in one and 1 in the other.
    white = torch.ones(1, 3, 1, 1, dtype=torch.float64)
    assert to_luma(white, "y").item() * 255 == pytest.approx(235) and to_luma(white, "gray").item() == pytest.approx(1)
    with pytest.raises(ValueError, match="rgb, y or gray|one of"):
        to_luma(rgb, "ycbcr")
