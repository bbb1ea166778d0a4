"""The test-time adaptation benchmark on a tiny untrained model: rows, exact baseline, K=0, the report file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from benchmarks import adaptation as adaptation_benchmark
from benchmarks.adaptation import NOTES_MARKER, main
from benchmarks.common import ReportExistsError
from reblur.data import SyntheticPairsDataModule
from reblur.metrics import psnr
from reblur.networks import ReblurringModule, UNet

DATA = {"images": ["camera", "coins"], "val_images": 1, "pairs_per_image": 1, "kernel_size": 5}


@pytest.fixture
def tiny_model(tmp_path: Path) -> tuple[Path, Path, UNet]:
    """A training YAML and a checkpoint of an untrained tiny UNet + M_R, with 1 held-out image."""
    config = {
        "model": {
            "deblur_net": {"class_path": "reblur.networks.UNet", "init_args": {"channels": [8, 16]}},
            "reblur_net": {
                "class_path": "reblur.networks.ReblurringModule",
                "init_args": {"n_blocks": 1, "channels": 8},
            },
        },
        "data": {"class_path": "reblur.data.SyntheticPairsDataModule", "init_args": DATA},
    }
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    deblur, reblur = UNet(channels=(8, 16)), ReblurringModule(n_blocks=1, channels=8)
    state = {f"deblur_net.{k}": v for k, v in deblur.state_dict().items()}
    state.update({f"reblur_net.{k}": v for k, v in reblur.state_dict().items()})
    ckpt = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": state, "epoch": 0}, ckpt)  # a Lightning checkpoint holds more; only this is read
    return config_path, ckpt, deblur.eval()


def arguments(config: Path, ckpt: Path, *extra: str) -> list[str]:
    return [
        *("--ckpt", str(ckpt), "--config", str(config), "--image_size", "96", "--metrics", "psnr,ssim,niqe"),
        *("--device", "cpu", "--settings", "steps=1,lr=1e-3", "steps=0", *extra),
    ]


def test_rows_baseline_and_report(tiny_model, tmp_path, capsys):
    config, ckpt, deblur = tiny_model
    report = tmp_path / "results" / "tta.md"
    result = main(arguments(config, ckpt, "--output", str(report)))

    printed = json.loads(capsys.readouterr().out)
    assert [row["setting"] for row in printed["rows"]] == [row["setting"] for row in result["rows"]]
    baseline, adapted, zero = result["rows"]
    assert baseline["setting"] == "no adaptation" and adapted["steps"] == 1 and zero["steps"] == 0
    assert {"cpu", "torch", "threads"} <= set(result["machine"]) and result["data"]["pairs"] == 1
    for row in result["rows"]:
        assert row["images"] == 1 and {"psnr", "ssim", "niqe", "loss_before", "loss_after"} <= set(row)
        assert row["seconds_median"] > 0 and row["seconds_mean"] > 0

    # The baseline is the trained network's output on the held-out pair, scored directly.
    datamodule = SyntheticPairsDataModule(**DATA, image_size=96, num_workers=0, persistent_workers=False)
    datamodule.setup("test")
    item = datamodule.test_set[0]
    with torch.no_grad():
        output = deblur(item["blurry"][None]).clamp(0, 1)
    assert baseline["psnr"] == pytest.approx(float(psnr(output, item["sharp"][None])[0]), abs=1e-6)
    assert baseline["per_image"][0]["name"] == item["name"]

    # K = 0 is no adaptation, exactly; one step starts from the same output (same loss before).
    for key in ("psnr", "ssim", "niqe", "loss_before", "loss_after"):
        assert zero[key] == baseline[key]
    assert adapted["loss_before"] == pytest.approx(baseline["loss_before"], rel=1e-5)
    assert adapted["psnr"] != baseline["psnr"]

    text = report.read_text()
    assert "python -m benchmarks.adaptation --ckpt" in text and "| no adaptation |" in text
    assert "K=1, lr=1e-03, all, w=0" in text and NOTES_MARKER in text

    # A second run is refused without --overwrite, before any work.
    with pytest.raises(SystemExit) as refused:
        main(arguments(config, ckpt, "--output", str(report)))
    assert refused.value.code == 2 and "--overwrite" in capsys.readouterr().err


def test_overwrite_keeps_the_notes(tmp_path):
    report = tmp_path / "tta.md"
    report.write_text(f"# old table\n{NOTES_MARKER}\nHand-written reading.\n")
    with pytest.raises(ReportExistsError, match="--overwrite"):
        adaptation_benchmark.write_report(report, f"# new table\n{NOTES_MARKER}\n", overwrite=False)
    adaptation_benchmark.write_report(report, f"# new table\n{NOTES_MARKER}\n", overwrite=True)
    assert report.read_text() == f"# new table\n{NOTES_MARKER}\nHand-written reading.\n"


def test_missing_lpips_weights_stop_before_any_work(tiny_model, monkeypatch, capsys):
    config, ckpt, _ = tiny_model

    def no_weights() -> None:
        raise adaptation_benchmark.BenchmarkError("cannot load the LPIPS alex backbone\nOr leave LPIPS out")

    monkeypatch.setattr(adaptation_benchmark, "check_lpips", no_weights)
    monkeypatch.setattr(adaptation_benchmark, "load_networks", pytest.fail)  # never reached
    with pytest.raises(SystemExit):
        main(["--ckpt", str(ckpt), "--config", str(config), "--metrics", "psnr,lpips"])
    assert "leave LPIPS out" in capsys.readouterr().err


def test_bad_setting_is_named():
    with pytest.raises(adaptation_benchmark.BenchmarkError, match="keys"):
        adaptation_benchmark.parse_setting("step=3")
    with pytest.raises(adaptation_benchmark.BenchmarkError, match="params"):
        adaptation_benchmark.parse_setting("params=convs")
