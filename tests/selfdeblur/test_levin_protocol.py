"""Levin et al.'s protocol, the sparse non-blind deconvolution and ``selfdeblur evaluate``, against
independent references: an analytic sub-pixel shift, scikit-image's SSIM, a hand PSNR, Wiener
deconvolution, and a tiny results folder in the Levin layout."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import map_coordinates
from skimage.metrics import structural_similarity

from deblur_core.blur import convolve_valid
from deblur_core.color import rgb_to_y
from deblur_core.motion_blur import random_motion_kernel
from deblur_core.ssim import gaussian_window
from selfdeblur.cli import main as cli_main
from selfdeblur.data import discover_lai
from selfdeblur.data.images import scikit_image
from selfdeblur.levin_protocol import align_upto_shift, error_ratios, kernel_similarity, psnr_255, ssim_wang
from selfdeblur.sparse_deconvolution import deconvolve_sparse
from tests.helpers import REPO, tiny_model_cli


def smooth_field(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A smooth, non-periodic test image in [0, 1] that can be sampled anywhere."""
    return 0.5 + 0.25 * torch.sin(0.21 * x + 0.05 * y) * torch.cos(0.17 * y - 0.03 * x) + 0.002 * x


def grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    r = torch.arange(n, dtype=torch.float64)
    return r[:, None].expand(n, n), r[None, :].expand(n, n)


def test_alignment_recovers_a_known_subpixel_shift():
    y, x = grid(70)
    truth = smooth_field(y, x)
    shift = (0.75, -1.25)  # the estimate shows the truth moved by this much
    estimate = smooth_field(y - shift[0], x - shift[1])
    aligned = align_upto_shift(estimate, truth, max_shift=3, border=5)
    assert aligned.shift == shift
    assert aligned.image.shape == aligned.truth.shape == (60, 60)
    assert float((aligned.image - aligned.truth).abs().max()) < 2e-3  # bilinear resampling error only
    # The aligned image is MATLAB interp2 (linear) of the estimate at the shifted grid, as scipy samples it.
    rows, cols = np.mgrid[5:65, 5:65].astype(float)
    expected = map_coordinates(estimate.numpy(), [rows + shift[0], cols + shift[1]], order=1)
    np.testing.assert_allclose(aligned.image.numpy(), expected, rtol=0, atol=1e-12)


def test_alignment_refuses_impossible_settings():
    image = torch.rand(40, 40, dtype=torch.float64)
    with pytest.raises(ValueError, match="must not exceed the border"):
        align_upto_shift(image, image, max_shift=12, border=10)
    with pytest.raises(ValueError, match="multiple of step"):
        align_upto_shift(image, image, max_shift=1.1)
    with pytest.raises(ValueError, match="must be equal"):
        align_upto_shift(image, image[:-1])


def test_psnr_and_ssim_equal_independent_computations():
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(48, 52, generator=g, dtype=torch.float64)
    estimate = (truth + 0.05 * torch.randn(48, 52, generator=g, dtype=torch.float64)).clamp(0, 1)
    mse = float(((255 * estimate - 255 * truth) ** 2).mean())
    assert psnr_255(estimate, truth) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-12)
    reference = structural_similarity(
        255 * estimate.numpy(),
        255 * truth.numpy(),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ssim_wang(estimate, truth) == pytest.approx(reference, abs=1e-9)
    window = gaussian_window(dtype=torch.float64)  # the window ssim_wang filters with
    assert window.shape == (11, 11) and float(window.sum()) == pytest.approx(1.0)
    assert float(window[5, 5] / window[5, 6]) == pytest.approx(math.exp(1 / (2 * 1.5**2)))


def test_error_ratio_of_the_known_kernel_result_is_exactly_one_and_uses_the_spectral_norm():
    y, x = grid(60)
    truth = smooth_field(y, x)
    g = torch.Generator().manual_seed(1)
    known = align_upto_shift((truth + 0.01 * torch.randn(60, 60, generator=g, dtype=torch.float64)), truth, 2, 0.25, 5)
    assert error_ratios(known, known) == {"error_ratio": 1.0, "ssd_ratio": 1.0}
    worse = align_upto_shift((truth + 0.03 * torch.randn(60, 60, generator=g, dtype=torch.float64)), truth, 2, 0.25, 5)
    ratios = error_ratios(worse, known)
    e, k = (worse.image - worse.truth).numpy(), (known.image - known.truth).numpy()
    assert ratios["error_ratio"] == pytest.approx(np.linalg.norm(e, 2) / np.linalg.norm(k, 2), rel=1e-12)
    assert ratios["ssd_ratio"] == pytest.approx((e**2).sum() / (k**2).sum(), rel=1e-12)


def test_kernel_similarity_is_one_for_shifted_copies_and_lower_for_other_kernels():
    kernel = random_motion_kernel(9, 0).double()
    shifted = torch.roll(torch.nn.functional.pad(kernel, (2, 2, 2, 2)), shifts=(1, -1), dims=(0, 1))
    assert kernel_similarity(kernel, shifted) == pytest.approx(1.0, abs=1e-12)
    assert kernel_similarity(kernel, random_motion_kernel(9, 5).double()) < 0.9


def wiener(blurry: torch.Tensor, kernel: torch.Tensor, nsr: float) -> torch.Tensor:
    """Textbook Wiener deconvolution (circular boundaries), ``blurry`` ``(H, W)``, convolution ``kernel``."""
    h, w = blurry.shape
    k = kernel.shape[-1]
    padded = torch.zeros(h, w, dtype=torch.float64)
    padded[:k, :k] = kernel
    padded = torch.roll(padded, shifts=(-(k // 2), -(k // 2)), dims=(0, 1))
    transfer = torch.fft.fft2(padded)
    spectrum = torch.fft.fft2(blurry) * transfer.conj() / (transfer.abs() ** 2 + nsr)
    return torch.fft.ifft2(spectrum).real


def test_sparse_deconvolution_beats_the_blurry_input_and_wiener():
    sharp = scikit_image("camera", 96, 0.5)[0].double()
    kernel = random_motion_kernel(11, 3).double()
    g = torch.Generator().manual_seed(0)
    clean = convolve_valid(sharp[None, None], kernel)[0, 0]
    blurry = clean + 0.01 * torch.randn(clean.shape, generator=g, dtype=torch.float64)
    m = 5  # compare the blurry image's view, away from the borders where Wiener's circular model is wrong
    truth = sharp[m + m : -(m + m), m + m : -(m + m)]

    def psnr(view: torch.Tensor) -> float:
        return psnr_255(view[m:-m, m:-m].clamp(0, 1), truth)

    latent = deconvolve_sparse(blurry, kernel, cg_iterations=100)
    assert latent.shape == sharp.shape
    ours = psnr(latent[m:-m, m:-m])
    blurred = psnr(blurry)
    best_wiener = max(psnr(wiener(blurry, kernel, nsr)) for nsr in (1e-3, 3e-3, 1e-2, 3e-2, 1e-1))
    assert ours > blurred + 4.0, (ours, blurred)
    assert ours > best_wiener + 0.5, (ours, best_wiener)


def test_sparse_deconvolution_is_batched_and_checks_its_input():
    sharp = scikit_image("camera", 40, 0.25)[0].double()
    kernels = torch.stack([random_motion_kernel(5, s).double() for s in (0, 1)])
    blurry = torch.stack([convolve_valid(sharp[None, None], k)[0, 0] for k in kernels])
    together = deconvolve_sparse(blurry, kernels, cg_iterations=10)
    alone = torch.stack([deconvolve_sparse(b, k, cg_iterations=10) for b, k in zip(blurry, kernels)])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="NaN"):
        deconvolve_sparse(blurry[0] * float("nan"), kernels[0])


def make_levin_tree(root, names=("im1_kernel1", "im1_kernel5", "im2_kernel5")):
    """A tiny dataset in the Levin layout (64x64 grayscale) with known kernels."""
    (root / "gt").mkdir(parents=True)
    sharps = {1: scikit_image("camera", 64, 0.3)[0], 2: scikit_image("astronaut", 64, 0.3).mean(0)}
    kernels = {}
    for name in names:
        i, k = int(name[2]), int(name.split("kernel")[1])
        size = {1: 17, 5: 11}[k]
        kernel = random_motion_kernel(size, k).double()
        kernels[name] = kernel
        padded = torch.nn.functional.pad(sharps[i][None, None].double(), (size // 2,) * 4, mode="reflect")
        blurry = convolve_valid(padded, kernel)[0, 0]
        Image.fromarray((blurry.clamp(0, 1).numpy() * 255).round().astype(np.uint8)).save(root / f"{name}_img.png")
        Image.fromarray((sharps[i].numpy() * 255).round().astype(np.uint8)).save(root / "gt" / f"im{i}.png")
        Image.fromarray((kernel / kernel.max() * 255).round().numpy().astype(np.uint8)).save(
            root / "gt" / f"kernel{k}.png"
        )
    return sharps, kernels


def test_evaluate_command_writes_the_table_and_reports_missing_results(tmp_path, capsys):
    data, results = tmp_path / "levin", tmp_path / "results"
    sharps, kernels = make_levin_tree(data)
    results.mkdir()
    # "Results" for two of the three images: the truth itself, and the truth moved by one pixel.
    for name, moved in (("im1_kernel1_img", 0), ("im2_kernel5_img", 1)):
        sharp = torch.roll(sharps[int(name[2])], shifts=(moved, 0), dims=(0, 1))
        Image.fromarray((sharp.numpy() * 255).round().astype(np.uint8)).save(results / f"{name}_deblurred.png")
        np.save(results / f"{name}_kernel.npy", kernels[name.removesuffix("_img")].float().numpy())
    cli_main(["evaluate", "--results", str(results), "--dataset", "levin", "--data", str(data), "--delta"])
    err = capsys.readouterr().err
    assert "im1_kernel5_img: not scored" in err
    with (results / "evaluation" / "per_image.csv").open(newline="") as f:
        rows = {row["name"]: row for row in csv.DictReader(f)}
    assert sorted(rows) == ["im1_kernel1_img", "im2_kernel5_img"]
    perfect, moved = rows["im1_kernel1_img"], rows["im2_kernel5_img"]
    assert float(perfect["psnr"]) > 60 and float(perfect["ssim"]) > 0.999  # 8-bit rounding only
    assert float(perfect["error_ratio"]) < 0.2  # far better than any deconvolution
    assert (float(moved["shift_y"]), float(moved["shift_x"])) == (1.0, 0.0)  # the shift is undone
    assert float(moved["psnr"]) > 60
    assert float(perfect["kernel_similarity"]) == pytest.approx(1.0, abs=1e-4)  # the truth went through an 8-bit PNG
    assert float(perfect["known_kernel_psnr"]) > 25 and float(perfect["delta_psnr"]) > 25
    table = (results / "evaluation" / "table.md").read_text()
    assert "2 of 3 images scored" in table and "Missing results (1): im1_kernel5_img" in table
    assert "| SelfDeblur | " in table and "33.07" in table
    with (results / "evaluation" / "means.csv").open(newline="") as f:
        means = next(csv.DictReader(f))
    assert int(means["images"]) == 2
    assert float(means["psnr"]) == pytest.approx((float(perfect["psnr"]) + float(moved["psnr"])) / 2, abs=1e-5)
    # Existing evaluations are kept unless asked.
    with pytest.raises(SystemExit):
        cli_main(["evaluate", "--results", str(results), "--data", str(data)])
    assert "--overwrite" in capsys.readouterr().err


def make_lai_tree(root, box_size=31):
    """Lai et al.'s layout, tiny: two 80x80 colour truths, their Y channels blurred by a ``box_size`` box for
    kernel_01 (1: not blurred)."""
    (root / "uniform_ycbcr").mkdir(parents=True)
    (root / "ground_truth").mkdir()
    truths = {}
    for name, source in (("manmade_01", "astronaut"), ("text_02", "coffee")):
        rgb = scikit_image(source, 80, 0.25)
        truths[name] = rgb
        Image.fromarray((rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(
            root / "ground_truth" / f"{name}.png"
        )
        luma = rgb_to_y(rgb[None].double())[0, 0]
        blurry = convolve_valid(
            torch.nn.functional.pad(luma[None, None], (box_size // 2,) * 4, mode="reflect"),
            torch.full((box_size, box_size), 1 / box_size**2, dtype=torch.float64),
        )[0, 0]
        Image.fromarray((blurry.numpy() * 255).round().astype(np.uint8)).save(
            root / "uniform_ycbcr" / f"{name}_kernel_01.png"
        )
    return truths


def fit_lai(data, results, steps, kernel_sizes):
    """``selfdeblur fit`` with the shipped Lai config on ``data``, ``steps`` steps of a small network."""
    cli_main(
        [
            *("fit", "--config", str(REPO / "configs" / "selfdeblur" / "lai.yaml"), "--data.images", str(data)),
            *("--output.dir", str(results), "--model.optimization.steps", str(steps)),
            *("--data.kernel_sizes", kernel_sizes, "--snapshots.every_n_steps", "0"),
            *("--trainer.enable_progress_bar", "false", "--trainer.logger", "false"),
            *tiny_model_cli(),
        ]
    )


def test_lai_layout_config_and_evaluation(tmp_path, capsys):
    data = tmp_path / "lai"
    truths = make_lai_tree(data)
    images = discover_lai(data)
    assert [(i.name, i.kernel_size, i.sharp.name) for i in images] == [
        ("manmade_01_kernel_01", 31, "manmade_01.png"),
        ("text_02_kernel_01", 31, "text_02.png"),
    ]
    # The shipped config runs on that layout (2 steps of a small network here).
    results = tmp_path / "results"
    fit_lai(data, results, steps=2, kernel_sizes='{"text_02_kernel_01": 7}')
    written = sorted(p.name for p in results.glob("*_deblurred.png"))
    assert written == ["manmade_01_kernel_01_deblurred.png", "text_02_kernel_01_deblurred.png"]
    # Evaluation on the Y channel: replace one result by the truth's colour image (a perfect estimate).
    perfect = truths["manmade_01"].permute(1, 2, 0).numpy()
    Image.fromarray((perfect * 255).round().astype(np.uint8)).save(results / "manmade_01_kernel_01_deblurred.png")
    cli_main(["evaluate", "--results", str(results), "--dataset", "lai"])
    table = (results / "evaluation" / "table.md").read_text()
    assert "Lai et al.'s set: 2 of 2 images scored" in table
    with (results / "evaluation" / "per_image.csv").open(newline="") as f:
        rows = {row["name"]: row for row in csv.DictReader(f)}
    assert float(rows["manmade_01_kernel_01"]["psnr"]) > 50
    assert rows["manmade_01_kernel_01"]["error_ratio"] == ""


def test_fit_scores_lai_images_on_the_studio_range_y_channel(tmp_path):
    # Unblurred inputs: the authors' Y files are MATLAB's rgb2ycbcr of the truth, so on that convention the
    # input matches its truth up to 8-bit rounding (about 59 dB); full-range luma would be off by up to 16/255.
    data = tmp_path / "lai"
    make_lai_tree(data, box_size=1)
    results = tmp_path / "results"
    fit_lai(data, results, steps=1, kernel_sizes='{"manmade_01_kernel_01": 3, "text_02_kernel_01": 3}')
    with (results / "summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert all(float(row["blurry_psnr_db"]) > 50 for row in rows), [row["blurry_psnr_db"] for row in rows]


def test_the_command_lines_default_shift_is_the_protocols():
    # selfdeblur.evaluate keeps its own copy so that `selfdeblur evaluate --help` needs no torch.
    from selfdeblur import evaluate, levin_protocol

    assert evaluate.LEVIN_MAX_SHIFT == levin_protocol.LEVIN_MAX_SHIFT == 10  # Levin et al.'s comp_upto_shift.m
