"""``reblur evaluate``: per-image metrics against numpy/scikit-image references, matching and its reports,
non-finite values, option errors and refusing to overwrite results."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from deblur_core.image_io import read_image
from reblur.cli import main as reblur_main
from reblur.evaluate import main
from reblur.metrics import niqe


def save(path: Path, array: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def random_image(seed: int, size: int = 64, channels: int = 3) -> np.ndarray:
    shape = (size, size, channels) if channels > 1 else (size, size)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def noisy(image: np.ndarray, seed: int, sigma: float = 10.0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).round().astype(np.uint8)


def numpy_psnr(prediction: np.ndarray, target: np.ndarray) -> float:
    mse = np.mean((prediction / 255.0 - target / 255.0) ** 2)
    return float(10 * np.log10(1.0 / mse))


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["path"]: row for row in csv.DictReader(f)}


def run(*args: str) -> dict:
    return main([*args, "--device", "cpu"])


def test_psnr_and_ssim_per_image_match_independent_references(tmp_path, capsys):
    references = {}
    for i, name in enumerate(["a.png", "sub/b.png", "sub/deeper/c.png"]):
        target = save(tmp_path / "target" / name, random_image(i))
        references[name] = (save(tmp_path / "pred" / name, noisy(target, 100 + i)), target)
    out = tmp_path / "out"

    summary = run("--pred", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--output", str(out))

    rows = read_csv(out / "per_image.csv")
    assert list(rows) == sorted(references)  # nested files matched by relative path
    assert list(next(iter(rows.values()))) == ["path", "psnr", "ssim"]
    expected_psnr, expected_ssim = [], []
    for name, (prediction, target) in references.items():
        expected_psnr.append(numpy_psnr(prediction, target))
        expected_ssim.append(
            structural_similarity(
                prediction / 255.0,
                target / 255.0,
                data_range=1.0,
                channel_axis=2,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
        )
        assert float(rows[name]["psnr"]) == pytest.approx(expected_psnr[-1], abs=1e-4)
        assert float(rows[name]["ssim"]) == pytest.approx(expected_ssim[-1], abs=1e-4)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["count"] == summary["count"] == 3
    assert saved["mean"]["psnr"] == pytest.approx(np.mean(expected_psnr), abs=1e-4)
    assert saved["mean"]["ssim"] == pytest.approx(np.mean(expected_ssim), abs=1e-4)
    assert saved["missing_predictions"] == saved["unmatched_predictions"] == saved["skipped"] == []
    assert saved["options"]["metrics"] == ["psnr", "ssim"]
    printed = capsys.readouterr().out
    assert "psnr ↑" in printed and "ssim ↑" in printed
    assert f"{np.mean(expected_psnr):.4f}" in printed


def test_missing_extra_corrupt_and_mismatched_files_are_reported_and_skipped(tmp_path, capsys):
    pred, target = tmp_path / "pred", tmp_path / "target"
    good = save(target / "good.png", random_image(0))
    save(pred / "good.png", noisy(good, 1))
    save(target / "no_prediction.png", random_image(2))
    save(pred / "extra.png", random_image(3))
    save(target / "x.png", random_image(4))
    (pred / "x.png").write_bytes(b"not an image at all")
    save(target / "small.png", random_image(5, size=48))
    save(pred / "small.png", random_image(6, size=64))
    save(target / "gray.png", random_image(7, channels=1))
    save(pred / "gray.png", random_image(8))

    summary = run("--pred", str(pred), "--target", str(target), "--metrics", "psnr", "--output", str(tmp_path / "o"))

    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert saved["missing_predictions"] == ["no_prediction.png"]
    assert saved["unmatched_predictions"] == ["extra.png"]
    reasons = {s["path"]: s["reason"] for s in saved["skipped"]}
    assert set(reasons) == {"gray.png", "small.png", "x.png"}
    assert str(pred / "x.png") in reasons["x.png"]
    assert "48x48" in reasons["small.png"] and str(target / "small.png") in reasons["small.png"]
    assert "1 channel" in reasons["gray.png"] and "3 channels" in reasons["gray.png"]
    assert list(read_csv(tmp_path / "o" / "per_image.csv")) == ["good.png"]
    assert summary["count"] == 1
    assert summary["mean"]["psnr"] == pytest.approx(numpy_psnr(noisy(good, 1), good), abs=1e-4)
    warning = capsys.readouterr().err
    for name in ["no_prediction.png", "extra.png", "x.png", "small.png", "gray.png"]:
        assert name in warning


def test_strict_turns_problems_into_an_error_and_writes_nothing(tmp_path, capsys):
    pred, target = tmp_path / "pred", tmp_path / "target"
    image = save(target / "a.png", random_image(0))
    save(pred / "a.png", image)
    (pred / "b.png").write_bytes(b"garbage")
    save(target / "b.png", random_image(1))
    with pytest.raises(SystemExit) as exit_info:
        run("--pred", str(pred), "--target", str(target), "--output", str(tmp_path / "o"), "--strict")
    assert exit_info.value.code == 1
    assert str(pred / "b.png") in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

    save(target / "c.png", random_image(2))  # a missing prediction fails before anything is computed
    with pytest.raises(SystemExit):
        run("--pred", str(pred), "--target", str(target), "--output", str(tmp_path / "o"), "--strict")
    assert "c.png" in capsys.readouterr().err


def test_files_whose_paths_differ_only_by_suffix_are_matched_unless_ambiguous(tmp_path, capsys):
    pred, target = tmp_path / "pred", tmp_path / "target"
    image = save(target / "s" / "a.bmp", random_image(0))
    save(pred / "s" / "a.png", noisy(image, 1))
    summary = run("--pred", str(pred), "--target", str(target), "--metrics", "psnr", "--output", str(tmp_path / "o"))
    assert [(r["path"], r["target"]) for r in summary["per_image"]] == [("s/a.png", "s/a.bmp")]
    assert summary["per_image"][0]["psnr"] == pytest.approx(numpy_psnr(noisy(image, 1), image), abs=1e-4)

    save(pred / "s" / "a.tif", image)
    with pytest.raises(SystemExit) as exit_info:
        run("--pred", str(pred), "--target", str(target), "--output", str(tmp_path / "o2"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "s/a.png" in err and "s/a.tif" in err and "ambiguous" in err


def test_identical_images_give_infinite_psnr_written_as_a_string(tmp_path, capsys):
    pred, target = tmp_path / "pred", tmp_path / "target"
    image = save(target / "same.png", random_image(0))
    save(pred / "same.png", image)
    summary = run("--pred", str(pred), "--target", str(target), "--output", str(tmp_path / "o"))

    assert summary["mean"]["psnr"] == math.inf
    text = (tmp_path / "o" / "metrics.json").read_text()
    saved = json.loads(text)  # strict JSON: no bare Infinity
    assert "Infinity" not in text
    assert saved["mean"]["psnr"] == saved["per_image"][0]["psnr"] == "inf"
    assert saved["mean"]["ssim"] == pytest.approx(1.0)
    assert float(read_csv(tmp_path / "o" / "per_image.csv")["same.png"]["psnr"]) == math.inf
    assert re.search(r"\|\s+inf\s+\|", capsys.readouterr().out)


def test_no_reference_metric_runs_without_target_and_skips_too_small_images(tmp_path):
    pred = tmp_path / "pred"
    # Two 96x96 NIQE blocks: the covariance of the block features needs more than one block.
    ramp = np.add.outer(np.arange(96), np.arange(192)) // 2
    noise = np.random.default_rng(0).integers(0, 32, ramp.shape)
    save(pred / "big.png", np.clip(ramp + noise, 0, 255).astype(np.uint8))
    save(pred / "tiny.png", random_image(1, size=64))

    summary = run("--pred", str(pred), "--metrics", "niqe", "--output", str(tmp_path / "o"))

    expected = float(niqe(read_image(pred / "big.png")[None].double()))
    assert summary["count"] == 1
    assert summary["per_image"][0]["niqe"] == pytest.approx(expected, abs=1e-4)
    assert summary["higher_is_better"] == {"niqe": False}
    (skipped,) = summary["skipped"]
    assert skipped["path"] == "tiny.png" and str(pred / "tiny.png") in skipped["reason"] and "96" in skipped["reason"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--metrics", "psnr,niqe"], "--target"),
        (["--metrics", "psnr,sharpness"], "sharpness"),
        (["--metrics", ","], "--metrics"),
        (["--crop_border", "-1"], "--crop_border"),
    ],
)
def test_impossible_options_are_errors_naming_the_option(tmp_path, capsys, extra, expected):
    save(tmp_path / "pred" / "a.png", random_image(0))
    with pytest.raises(SystemExit) as exit_info:
        run("--pred", str(tmp_path / "pred"), *extra)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err
    if "sharpness" in extra[-1]:
        assert "available" in err and "niqe" in err


def test_missing_folder_is_an_error_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run("--pred", str(tmp_path / "nowhere"), "--metrics", "niqe")
    assert "--pred" in capsys.readouterr().err


def test_existing_results_are_refused_without_overwrite(tmp_path, capsys):
    pred, target, out = tmp_path / "pred", tmp_path / "target", tmp_path / "o"
    image = save(target / "a.png", random_image(0))
    save(pred / "a.png", noisy(image, 1))
    (out).mkdir()
    (out / "metrics.json").write_text("earlier results")

    with pytest.raises(SystemExit) as exit_info:
        run("--pred", str(pred), "--target", str(target), "--output", str(out))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "metrics.json" in err and "--overwrite" in err
    assert (out / "metrics.json").read_text() == "earlier results"
    assert not (out / "per_image.csv").exists()

    run("--pred", str(pred), "--target", str(target), "--output", str(out), "--overwrite")
    assert json.loads((out / "metrics.json").read_text())["count"] == 1


def test_default_output_is_beside_the_predictions(tmp_path):
    image = save(tmp_path / "target" / "a.png", random_image(0))
    save(tmp_path / "results" / "a.png", noisy(image, 1))
    run("--pred", str(tmp_path / "results"), "--target", str(tmp_path / "target"))
    assert (tmp_path / "results_metrics" / "per_image.csv").is_file()


def test_y_convention_and_border_crop_give_basicsr_psnr(tmp_path):
    image = save(tmp_path / "target" / "a.png", random_image(0))
    prediction = save(tmp_path / "pred" / "a.png", noisy(image, 1))

    def luma(rgb):  # BasicSR's Y of 8-bit RGB, unrounded, on the 0-255 scale
        return 16 + rgb.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255

    a, b = luma(prediction)[4:-4, 4:-4], luma(image)[4:-4, 4:-4]
    expected = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
    common = ["--pred", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--metrics", "psnr"]
    summary = run(*common, "--output", str(tmp_path / "o"), "--crop_border", "4", "--color", "y")
    assert summary["per_image"][0]["psnr"] == pytest.approx(expected, abs=1e-4)
    assert summary["options"]["crop_border"] == 4 and summary["options"]["color"] == "y"
    assert abs(summary["per_image"][0]["psnr"] - numpy_psnr(prediction, image)) > 0.1  # not the RGB value


def test_reblur_command_dispatches_to_evaluate(tmp_path, capsys):
    image = save(tmp_path / "target" / "a.png", random_image(0))
    save(tmp_path / "pred" / "a.png", noisy(image, 1))
    args = ["--pred", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--metrics", "psnr"]
    reblur_main(["evaluate", *args, "--output", str(tmp_path / "o"), "--device", "cpu"])
    assert float(read_csv(tmp_path / "o" / "per_image.csv")["a.png"]["psnr"]) == pytest.approx(
        numpy_psnr(noisy(image, 1), image), abs=1e-4
    )
    assert "psnr ↑" in capsys.readouterr().out
