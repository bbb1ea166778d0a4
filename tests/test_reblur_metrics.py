"""PSNR / SSIM / LPIPS per image and their accumulation, against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SHARED
from skimage.metrics import structural_similarity

from reblur.metrics import ImageQualityMetrics, LPIPSDistance, psnr, ssim
from selfdeblur.image_io import read_image


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


def test_lpips_alexnet_reproduces_the_reference_distances(seeded_torch_hub):
    folder = SHARED / "lpips"
    if not folder.is_dir():
        pytest.skip(f"LPIPS example images not available at {folder}")
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
