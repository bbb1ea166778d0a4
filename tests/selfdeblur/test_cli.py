"""The ``selfdeblur`` command through ``main([...])``: outputs, summary, resume, logging, configs."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest
import torch
from PIL import Image

from deblur_core.image_io import read_image
from deblur_core.motion_blur import blur, random_motion_kernel
from selfdeblur.cli import main
from selfdeblur.data import SyntheticBlur
from selfdeblur.data.images import scikit_image
from selfdeblur.lightning_module import SelfDeblur
from selfdeblur.metrics import aligned_psnr, kernel_distance
from tests.helpers import REPO, command_error
from tests.helpers import SELFDEBLUR_TINY as TINY


def fit_images(images, *options):
    """``selfdeblur fit`` with the tiny config on files instead of its synthetic image."""
    main(["fit", "--config", TINY, "--data.synthetic", "null", "--data.images", str(images), *options])


def summary(out):
    with (out / "summary.csv").open() as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def test_fit_writes_results_summary_and_snapshots(tmp_path):
    out = tmp_path / "out"
    main(["fit", "--config", TINY, "--output.dir", str(out)])
    name = "camera_k5_seed0"
    image = read_image(out / f"{name}_deblurred.png")
    assert image.shape == (1, 24, 24)
    kernel = np.load(out / f"{name}_kernel.npy")
    assert kernel.shape == (5, 5) and kernel.min() >= 0 and kernel.sum() == pytest.approx(1, abs=1e-5)
    assert np.asarray(Image.open(out / f"{name}_kernel.png")).max() == 255
    row = summary(out)[name]
    assert row["steps"] == "6" and row["kernel_size"] == "5" and float(row["seconds"]) > 0
    # Ground truth known: the table compares the written results with it.
    truth = SyntheticBlur(size=24, kernel_size=5).make()
    assert float(row["psnr_db"]) == pytest.approx(aligned_psnr(image, truth.load_sharp(), 5)[0], abs=0.05)
    assert float(row["blurry_psnr_db"]) == pytest.approx(aligned_psnr(truth.load(), truth.load_sharp(), 5)[0], abs=1e-3)
    expected_distance = kernel_distance(torch.from_numpy(kernel), truth.load_true_kernel(), 5)
    assert float(row["kernel_distance"]) == pytest.approx(expected_distance, abs=1e-4)
    # The default logger records the loss curve and the snapshots every 3 steps, beside the results.
    log_dir = out / "lightning_logs" / "version_0"
    assert (log_dir / "config.yaml").is_file()
    with (log_dir / "metrics.csv").open() as f:
        header = next(csv.reader(f))
    assert f"{name}/loss" in header
    snapshots = sorted(p.name for p in (log_dir / "snapshots").glob("*.png"))
    assert snapshots == [f"{name}_step{s:06d}_{kind}.png" for s in (3, 6) for kind in ("kernel", "latent")]


def make_folder(folder, names=("a", "b")):
    folder.mkdir(parents=True)
    sharp = scikit_image("camera", 64, 0.25)
    for i, name in enumerate(names):
        kernel = random_motion_kernel(5, seed=i)
        crop = sharp[:, i : i + 28, i : i + 28]
        Image.fromarray((blur(crop, kernel)[0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{name}.png")
    return folder


def test_a_failed_image_does_not_stop_the_others_and_a_rerun_solves_only_it(tmp_path, monkeypatch, capsys):
    images = make_folder(tmp_path / "images")
    out = tmp_path / "out"
    options = [
        "--data.kernel_size",
        "5",
        "--output.dir",
        str(out),
        "--trainer.default_root_dir",
        str(tmp_path / "logs"),
    ]

    original = SelfDeblur._loss

    def failing_loss(self, problem, estimate, step, tv_weight):
        loss = original(self, problem, estimate, step, tv_weight)
        return loss * float("nan") if problem.name == "a" and step == 2 else loss

    monkeypatch.setattr(SelfDeblur, "_loss", failing_loss)
    args = ["fit", "--config", TINY, "--data.synthetic", "null", "--data.images", str(images), *options]
    # a's loss becomes NaN: a fails, b (after it) is solved all the same, and the run then ends with an error.
    line = command_error(capsys, main, args, status=1)
    assert line.startswith(
        "selfdeblur: error: 1 image(s) failed, the others were written: a (the loss became nan at step 2)"
    )
    rows = summary(out)
    assert rows["b"]["status"] == "ok" and rows["a"]["status"] == "failed: the loss became nan at step 2"
    assert not list(out.glob("a_*")) and not list(out.glob(".*"))  # nothing partial for a
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("b_*")}
    assert len(first) == 3

    monkeypatch.setattr(SelfDeblur, "_loss", original)
    fit_images(images, *options)
    assert {row["name"]: row["status"] for row in summary(out).values()} == {"a": "ok", "b": "ok"}
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("b_*")} == first  # kept, not redone
    assert len(list(out.glob("a_*"))) == 3

    # Everything done: a third run solves nothing; --output.overwrite solves again.
    fit_images(images, *options)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("b_*")} == first
    fit_images(images, *options, "--output.overwrite", "true")
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("b_*")} != first


def test_a_folder_solved_with_other_settings_stops_the_run_unless_asked(tmp_path, capsys):
    images = make_folder(tmp_path / "images")
    out = tmp_path / "out"
    options = ["--output.dir", str(out), "--trainer.logger", "false"]
    fit_images(images, "--data.kernel_size", "5", *options)
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*_deblurred.png")}
    args = ["fit", "--config", TINY, "--data.synthetic", "null", "--data.images", str(images), *options]
    line = command_error(capsys, main, [*args, "--data.kernel_size", "7"], status=1)
    assert line.startswith(f"selfdeblur: error: 2 of the images already solved in '{out}' were solved with other ")
    assert "('a': kernel_size 5 (now 7))" in line and "--output.keep_different true" in line
    line = command_error(capsys, main, [*args, "--data.kernel_size", "5", "--model.seed", "3"], status=1)
    assert "model.seed 0 (now 3)" in line
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_deblurred.png")} == first  # nothing touched
    # An option that did not exist when the folder was solved is no difference at its default, one otherwise.
    for recorded in (out / "settings").glob("*.json"):
        settings = json.loads(recorded.read_text())
        del settings["model.fast.coarse_kernel_sizes"]
        recorded.write_text(json.dumps(settings))
    fit_images(images, "--data.kernel_size", "5", *options)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_deblurred.png")} == first
    line = command_error(
        capsys,
        main,
        [*args, "--data.kernel_size", "5", "--model.fast.enabled", "true", "--model.fast.coarse_kernel_sizes", "[3]"],
        status=1,
    )
    assert "model.fast.coarse_kernel_sizes - (now [3])" in line
    fit_images(images, "--data.kernel_size", "7", *options, "--output.keep_different", "true")
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_deblurred.png")} == first  # kept
    fit_images(images, "--data.kernel_size", "7", *options, "--output.overwrite", "true")
    assert {row["kernel_size"] for row in summary(out).values()} == {"7"}


def test_a_collapsed_result_is_flagged(tmp_path):
    from selfdeblur.lightning_module import collapse

    kernel = torch.zeros(5, 5)
    kernel[2, 2] = 1
    black_and_white = (torch.rand(1, 20, 20) > 0.5).float()
    assert collapse(black_and_white, kernel).startswith("collapsed: 100% of the kernel in one pixel and 100% of")
    assert collapse(torch.full((1, 20, 20), 0.5), kernel) is None  # a sharp input can have a one-pixel kernel
    assert collapse(black_and_white, torch.full((5, 5), 1 / 25)) is None


def test_colour_photo_gives_colour_result(tmp_path):
    photo = tmp_path / "photo.png"
    rgb = scikit_image("astronaut", 28, 0.1)
    Image.fromarray((rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(photo)
    out = tmp_path / "out"
    fit_images(photo, "--data.kernel_size", "5", "--output.dir", str(out), "--trainer.logger", "false")
    result = read_image(out / "photo_deblurred.png")
    assert result.shape == (3, 28, 28)
    from deblur_core.color import rgb_to_ycbcr

    blurry_chroma = rgb_to_ycbcr(read_image(photo))[1:]
    assert (rgb_to_ycbcr(result)[1:] - blurry_chroma).abs().mean() < 0.02  # chroma carried over


def test_print_config_and_shipped_configs(capsys):
    for config, expected in [
        (
            "configs/selfdeblur/levin.yaml",
            # fp32 arithmetic on GPUs and freed host memory kept on CPUs unless a user says otherwise
            [
                "steps: 5000",
                "layout: levin",
                "mse_steps: 1000",
                "float32_precision: ieee",
                "host_memory:\n  enabled: true",
            ],
        ),
        (
            "configs/selfdeblur/real.yaml",
            ["steps: 1000", "- 650", "mse_steps: 250", "house: 51", "fast:\n    enabled: auto"],
        ),
        ("configs/selfdeblur/lai_fast.yaml", ["layout: lai", "fast:\n    enabled: true", "crop: 160"]),
        ("configs/selfdeblur/demo.yaml", ["synthetic:"]),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["fit", "--config", str(REPO / config), "--print_config"])
        assert exit_info.value.code in (0, None)
        printed = capsys.readouterr().out
        for text in expected:
            assert text in printed, (config, text)


def test_wandb_offline_logs_losses_and_images(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    main(
        [
            "fit",
            "--config",
            TINY,
            "--config",
            str(REPO / "configs" / "logger" / "wandb.yaml"),
            "--trainer.logger.init_args.save_dir",
            str(tmp_path),
            "--trainer.logger.init_args.offline",
            "true",
            "--output.dir",
            str(tmp_path / "out"),
        ]
    )
    import wandb

    wandb.finish()  # the logger leaves the run open; finishing flushes it
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    # W&B's service process writes the run file on its own schedule, even after finish(): poll briefly.
    deadline = time.monotonic() + 20
    while True:
        data = b"".join(p.read_bytes() for p in runs[0].rglob("*.wandb"))
        if (b"camera_k5_seed0/loss" in data and b"camera_k5_seed0/latent" in data) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert b"camera_k5_seed0/loss" in data and b"camera_k5_seed0/latent" in data


def test_bf16_mixed_precision_on_cpu(tmp_path):
    out = tmp_path / "out"
    main(
        [
            "fit",
            "--config",
            TINY,
            "--trainer.precision",
            "bf16-mixed",
            "--output.dir",
            str(out),
            "--trainer.logger",
            "false",
        ]
    )
    row = summary(out)["camera_k5_seed0"]
    assert np.isfinite(float(row["final_loss"])) and row["steps"] == "6"


def test_closing_report_is_printed_after_the_progress_bar_closed(tmp_path, capsys):
    # The report comes at the end of training, when the bars are closed: it must still reach the terminal.
    main(["fit", "--config", TINY, "--output.dir", str(tmp_path / "out"), "--trainer.enable_progress_bar", "true"])
    printed = capsys.readouterr().out
    assert "wrote 1 image(s)" in printed and "camera_k5_seed0" in printed
