"""SSIM against independent implementations, TV by hand, and the learning-rate schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.metrics import structural_similarity

from deblur_core.ssim import gaussian_window
from selfdeblur.losses import data_fidelity, learning_rate, ssim, total_variation


def numpy_ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SSIM map with an 11x11, sigma 1.5 Gaussian and zero-padded 'same' filtering (NumPy/SciPy)."""
    r = np.arange(11) - 5
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()

    def filt(a: np.ndarray) -> np.ndarray:
        return ndimage.correlate(a, w, mode="constant", cval=0.0)

    mx, my = filt(x), filt(y)
    vx, vy, cxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = ndimage.gaussian_filter(rng.random((40, 37)), 2)
    y = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)
    return x, y


def test_ssim_matches_numpy_reference(pair):
    x, y = pair
    ours = ssim(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None])
    assert float(ours) == pytest.approx(numpy_ssim_map(x, y).mean(), abs=1e-10)


def test_ssim_interior_matches_scikit_image(pair):
    """Away from the borders (where padding conventions differ), the map is scikit-image's."""
    x, y = pair
    _, skimage_map = structural_similarity(
        x, y, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, full=True
    )
    np.testing.assert_allclose(numpy_ssim_map(x, y)[5:-5, 5:-5], skimage_map[5:-5, 5:-5], atol=1e-10)


def test_ssim_of_identical_images_is_one(pair):
    x = torch.from_numpy(pair[0])[None, None].float()
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)


def test_gaussian_window():
    w = gaussian_window(11, 1.5, torch.float64)
    assert w.shape == (11, 11)
    assert float(w.sum()) == pytest.approx(1.0)
    assert float(w[5, 6] / w[5, 5]) == pytest.approx(np.exp(-1 / (2 * 1.5**2)))


def test_total_variation_by_hand():
    x = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]]])
    # horizontal differences: 1, 2, 0, 0 ; vertical differences: 2, 1, -1
    assert float(total_variation(x, "l1")) == pytest.approx(3 / 4 + 4 / 3)
    assert float(total_variation(x, "l2")) == pytest.approx(5 / 4 + 6 / 3)
    with pytest.raises(ValueError, match="tv_norm"):
        total_variation(x, "l3")


def test_data_fidelity_schedule(pair):
    x = torch.from_numpy(pair[0])[None, None].float()
    y = torch.from_numpy(pair[1])[None, None].float()
    assert float(data_fidelity(x, y, 999, 1000)) == pytest.approx(float(F.mse_loss(x, y)))
    assert float(data_fidelity(x, y, 1000, 1000)) == pytest.approx(1 - float(ssim(x, y)))


def test_learning_rate_is_multistep_lr():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=1e-2)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 5, 8], gamma=0.5)
    for step in range(11):
        assert learning_rate(1e-2, step, [3, 5, 8], 0.5) == pytest.approx(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert learning_rate(1e-2, 4999, [2000, 3000, 4000], 0.5) == pytest.approx(1e-2 / 8)
