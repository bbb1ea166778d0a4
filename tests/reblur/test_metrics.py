"""PSNR / SSIM / LPIPS per image and their accumulation, against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from deblur_core.image_io import read_image
from reblur.metrics import ImageQualityMetrics, LPIPSDistance, niqe, psnr, ssim
from tests.helpers import REPO


def smooth_pair(seed: int, shape=(2, 3, 32, 40)):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(shape[0], shape[1], shape[2] + 4, shape[3] + 4, generator=g), 5, 1)
    y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


def test_psnr_per_image_by_hand():
    target = torch.zeros(2, 3, 4, 4)
    prediction = target.clone()
    prediction[0] += 0.1  # MSE 0.01 -> 20 dB
    prediction[1, :, :2] += 0.01  # MSE 0.5e-4 -> 43.0103 dB
    assert psnr(prediction, target).tolist() == pytest.approx([20.0, 10 * np.log10(1 / 0.5e-4)], abs=1e-4)
    assert psnr(target * 255 + 25.5, target * 255, data_range=255)[0].item() == pytest.approx(20.0, abs=1e-4)
    assert psnr(target, target)[0].item() == float("inf")


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_scikit_image_gaussian_convention(seed):
    x, y = smooth_pair(seed)
    ours = ssim(x, y)
    for i in range(x.shape[0]):
        reference = structural_similarity(
            x[i].numpy().astype(np.float64),
            y[i].numpy().astype(np.float64),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=0,
        )
        assert ours[i].item() == pytest.approx(reference, abs=1e-6)
    assert ssim(x, x).tolist() == pytest.approx([1.0, 1.0])


def matlab_ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """MATLAB's ssim written with scipy: an N-D Gaussian (sigma 1.5, 11 taps), 'replicate' borders, mean of the map."""

    def blur(t):
        return gaussian_filter(t, 1.5, mode="nearest", truncate=3.5)  # radius int(3.5 * 1.5 + 0.5) = 5

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return float((((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))).mean())


@pytest.mark.parametrize("channels", [3, 1])
def test_matlab_ssim_is_the_volume_ssim_with_replicate_borders(channels):
    x, y = smooth_pair(2, shape=(2, channels, 30, 37))
    ours = ssim(x, y, convention="matlab")
    for i in range(2):
        reference = matlab_ssim_reference(x[i].double().numpy(), y[i].double().numpy())
        assert ours[i].item() == pytest.approx(reference, abs=1e-4)
        assert ours[i].item() == pytest.approx(
            reference, abs=1e-6
        )  # float64 inside, float32 out: far tighter than asked
    assert ssim(x, x, convention="matlab").tolist() == pytest.approx([1.0, 1.0])
    # It is a different convention from the per-channel one (here by more than 0.01), not a rounding.
    if channels == 3:
        assert (ours - ssim(x, y)).abs().min().item() > 0.01
    with pytest.raises(ValueError, match="convention"):
        ssim(x, y, convention="skimage")


def test_y_convention_and_border_crop_follow_basicsr():
    x, y = smooth_pair(3, shape=(2, 3, 24, 28))
    crop = 4

    def luma(t):  # BasicSR's bgr2ycbcr(y_only=True) on [0, 1] RGB, as 8-bit levels (not rounded)
        r, g, b = t.double().numpy()
        return 16 + 65.481 * r + 128.553 * g + 24.966 * b

    for i in range(2):
        a, b = luma(x[i])[crop:-crop, crop:-crop], luma(y[i])[crop:-crop, crop:-crop]
        expected_psnr = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
        assert psnr(x, y, crop_border=crop, color="y")[i].item() == pytest.approx(expected_psnr, abs=1e-4)
        expected_ssim = structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
        assert ssim(x, y, crop_border=crop, color="y")[i].item() == pytest.approx(expected_ssim, abs=1e-4)
        assert ssim(x, y, crop_border=crop, color="y", convention="matlab")[i].item() == pytest.approx(
            matlab_ssim_reference(a / 255, b / 255), abs=1e-4
        )
    with pytest.raises(ValueError, match="crop_border=12 leaves nothing"):
        psnr(x, y, crop_border=12)


def test_metric_options_reach_the_metrics_that_take_them():
    x, y = smooth_pair(4, shape=(2, 3, 100, 100))
    metric = ImageQualityMetrics(["psnr", "ssim", "ssim_matlab", "niqe"], crop_border=2, color="y")
    values = metric.per_image(x, y)
    assert torch.allclose(values["psnr"], psnr(x, y, crop_border=2, color="y"))
    assert torch.allclose(values["ssim"], ssim(x, y, crop_border=2, color="y"))
    assert torch.allclose(values["ssim_matlab"], ssim(x, y, crop_border=2, color="y", convention="matlab"))
    from reblur.metrics import niqe

    assert torch.allclose(values["niqe"], niqe(x.clamp(0, 1), crop_border=2))


def test_metric_accumulates_the_mean_of_per_image_values():
    target = torch.zeros(3, 3, 16, 16)
    prediction = target + torch.tensor([0.1, 0.01, 0.001]).view(3, 1, 1, 1)  # 20, 40, 60 dB
    one_pass = ImageQualityMetrics(["psnr", "ssim"])
    one_pass.update(prediction, target)
    two_batches = ImageQualityMetrics(["psnr", "ssim"])
    two_batches.update(prediction[:1], target[:1])
    two_batches.update(prediction[1:], target[1:])
    a, b = one_pass.compute(), two_batches.compute()
    assert a["psnr"].item() == pytest.approx(40.0, abs=1e-4)  # pooled MSE would give 24.3 dB
    assert b["psnr"].item() == pytest.approx(a["psnr"].item()) and b["ssim"].item() == pytest.approx(a["ssim"].item())
    with pytest.raises(ValueError, match="unknown metric"):
        ImageQualityMetrics(["psnr", "sharpness"])


def test_metric_clamps_predictions_like_a_saved_image():
    target = torch.ones(1, 3, 16, 16)
    metric = ImageQualityMetrics(["psnr"])
    metric.update(target + 0.5, target)
    assert metric.compute()["psnr"].item() == float("inf")


@pytest.mark.reference
def test_lpips_alexnet_reproduces_the_reference_distances(seeded_torch_hub):
    folder = REPO / "data" / "lpips"
    ref, p0, p1 = (read_image(folder / f"{name}.png").unsqueeze(0) for name in ("ex_ref", "ex_p0", "ex_p1"))
    distance = LPIPSDistance("alex")
    assert distance(p0, ref).item() == pytest.approx(0.722, abs=1e-3)
    assert distance(p1, ref).item() == pytest.approx(0.138, abs=1e-3)
    assert distance(ref, ref).item() == pytest.approx(0.0, abs=1e-7)


def test_lpips_error_says_where_the_weights_go(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    with pytest.raises(RuntimeError, match=r"alexnet-owt-7be5be79\.pth.*empty_hub"):
        LPIPSDistance("alex")(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))


def _no_network(*args, **kwargs):
    raise OSError("no network")


def test_the_names_help_lists_are_the_implemented_metrics():
    from reblur.metric_names import METRIC_NAMES
    from reblur.metrics.image_quality import METRICS

    assert tuple(METRICS) == METRIC_NAMES


def matlab_rgb2gray(rgb: np.ndarray) -> np.ndarray:
    """MATLAB's rgb2gray of ``(3, H, W)``: the Y row of the inverse YIQ matrix, derived with NumPy."""
    weights = np.linalg.inv(np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]]))[0]
    return np.einsum("c,chw->hw", weights, rgb)


def test_gray_convention_is_psnr_and_ssim_of_matlabs_rgb2gray():
    x, y = smooth_pair(5, shape=(2, 3, 30, 34))
    for i in range(2):
        a, b = matlab_rgb2gray(x[i].double().numpy()), matlab_rgb2gray(y[i].double().numpy())
        assert psnr(x, y, color="gray")[i].item() == pytest.approx(10 * np.log10(1 / np.mean((a - b) ** 2)), abs=1e-4)
        expected_ssim = structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1
        )
        assert ssim(x, y, color="gray")[i].item() == pytest.approx(expected_ssim, abs=1e-6)
        assert ssim(x, y, color="gray", convention="matlab")[i].item() == pytest.approx(
            matlab_ssim_reference(a, b), abs=1e-6
        )
    # The three conventions measure different things (by more than rounding) on colour images.
    values = {color: ssim(x, y, color=color) for color in ("rgb", "y", "gray")}
    assert (values["rgb"] - values["gray"]).abs().min() > 1e-3 and (values["y"] - values["gray"]).abs().min() > 1e-4


def test_niqe_gray_convention_scores_the_rounded_rgb2gray_levels():
    rgb = read_image(REPO / "data" / "niqe" / "baboon.png")[None].double()  # 8-bit levels
    levels = np.round(matlab_rgb2gray(rgb[0].double().numpy() * 255))  # MATLAB: rgb2gray of uint8 is uint8
    gray = torch.from_numpy(levels / 255)[None, None]
    assert niqe(rgb, color="gray").item() == pytest.approx(niqe(gray).item(), abs=1e-12)
    # The default is BasicSR's Y; MATLAB's own niqe() of an RGB image is the gray convention: they differ.
    assert abs(niqe(rgb, color="gray").item() - niqe(rgb).item()) > 1e-3
    with pytest.raises(ValueError, match="NIQE colour convention"):
        niqe(rgb, color="rgb")
