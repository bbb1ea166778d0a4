"""Noise estimation recovers known noise levels."""

from __future__ import annotations

import pytest
import torch

from deblur_core.image_io import read_image
from selfdeblur.data.images import scikit_image
from selfdeblur.noise_level import estimate_noise_sigma


@pytest.mark.parametrize(("sigma", "tolerance"), [(0.02, 0.25), (0.03, 0.15), (0.05, 0.1)])
def test_recovers_sigma_on_a_natural_image(sigma, tolerance):
    """Texture biases the estimate upwards at low noise levels, hence the looser bound there."""
    clean = scikit_image("camera", 256, 0.5)[0].double()
    g = torch.Generator().manual_seed(1)
    noisy = clean + sigma * torch.randn(clean.shape, generator=g, dtype=torch.float64)
    estimate = float(estimate_noise_sigma(noisy))
    assert sigma <= estimate * 1.02 and estimate == pytest.approx(sigma, rel=tolerance)


def test_pure_noise_and_batching():
    g = torch.Generator().manual_seed(2)
    levels = torch.tensor([0.01, 0.02, 0.1], dtype=torch.float64)
    noise = torch.randn(3, 200, 200, generator=g, dtype=torch.float64) * levels.view(3, 1, 1)
    est = estimate_noise_sigma(noise)
    assert est.shape == (3,)
    torch.testing.assert_close(est, levels, rtol=0.03, atol=0)


def test_linear_ramp_has_no_noise():
    ramp = torch.linspace(0, 1, 50)[None, :] + torch.linspace(0, 0.5, 40)[:, None]
    assert float(estimate_noise_sigma(ramp)) < 1e-6


def test_levin_blurry_image_noise_is_small(levin):
    blurry = read_image(levin / "im1_kernel1_img.png")
    assert float(estimate_noise_sigma(blurry[0])) < 0.01


def test_too_small():
    with pytest.raises(ValueError, match="at least 3x3"):
        estimate_noise_sigma(torch.zeros(2, 5))
