"""The ``reblur`` command through ``main([...])``: fit, test, checkpoints, exact resume, panels, configs."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
import torch

from deblur_core.image_io import read_image
from reblur.callbacks import IntervalCheckpoint
from reblur.cli import main
from reblur.data import SyntheticPairsDataModule
from reblur.lightning_cli import run
from reblur.metrics import psnr, ssim
from reblur.networks import ReblurringModule, UNet
from tests.helpers import REBLUR_TINY as TINY
from tests.helpers import REPO


def metrics_rows(log_dir: Path) -> list[dict[str, str]]:
    with (log_dir / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if v} for row in csv.DictReader(f)]


def load_nets(checkpoint: Path):
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    deblur, reblur = UNet(channels=(8, 16)), ReblurringModule(1, channels=8, kernel_size=3)
    deblur.load_state_dict(
        {k[len("deblur_net.") :]: v for k, v in state["state_dict"].items() if k.startswith("deblur_net.")}
    )
    reblur.load_state_dict(
        {k[len("reblur_net.") :]: v for k, v in state["state_dict"].items() if k.startswith("reblur_net.")}
    )
    return state, deblur, reblur


def test_fit_then_test_reports_metrics_of_the_checkpointed_model(tmp_path):
    root = tmp_path / "run"
    main(["fit", "--config", TINY, "--trainer.default_root_dir", str(root)])
    last = root / "checkpoints" / "last.ckpt"
    state, deblur, _ = load_nets(last)
    assert len(state["optimizer_states"]) == 2  # both networks' optimizers
    assert state["global_step"] == 2 * state["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["completed"]
    assert any(p.name.startswith("best-") for p in (root / "checkpoints").iterdir())

    # The validation panel: blurry | deblurred | reblurred | sharp side by side.
    panels = sorted((root / "lightning_logs" / "version_0" / "snapshots").rglob("*.png"))
    assert panels and "blurry-deblurred-reblurred-sharp" in panels[0].name
    panel = read_image(panels[0])
    assert panel.shape[-1] == 4 * panel.shape[-2]

    main(["test", "--config", TINY, "--trainer.default_root_dir", str(root / "test"), "--ckpt_path", str(last)])
    rows = metrics_rows(root / "test" / "lightning_logs" / "version_0")
    logged = {k: float(v) for row in rows for k, v in row.items() if k.startswith("test/")}

    # Independent recomputation: the checkpoint's network on the held-out images, per image then averaged.
    data = SyntheticPairsDataModule(
        images=["camera", "coins", "astronaut"], image_size=32, kernel_size=5, pairs_per_image=2, val_images=1,
        num_workers=0, persistent_workers=False,
    )  # fmt: skip
    data.setup("test")
    values = {"psnr": [], "ssim": [], "input_psnr": []}
    with torch.no_grad():
        for batch in data.test_dataloader():
            deblurred = deblur(batch["blurry"]).clamp(0, 1)
            values["psnr"] += psnr(deblurred, batch["sharp"]).tolist()
            values["ssim"] += ssim(deblurred, batch["sharp"]).tolist()
            values["input_psnr"] += psnr(batch["blurry"], batch["sharp"]).tolist()
    for name, per_image in values.items():
        assert logged[f"test/{name}"] == pytest.approx(sum(per_image) / len(per_image), abs=1e-4)


def test_resume_from_last_checkpoint_continues_exactly(tmp_path):
    straight = tmp_path / "straight"
    main(["fit", "--config", TINY, "--trainer.default_root_dir", str(straight), "--trainer.max_epochs", "3"])
    resumed = tmp_path / "resumed"
    main(["fit", "--config", TINY, "--trainer.default_root_dir", str(resumed), "--trainer.max_epochs", "1"])
    main(
        [
            "fit",
            "--config",
            TINY,
            "--trainer.default_root_dir",
            str(resumed),
            "--trainer.max_epochs",
            "3",
            "--ckpt_path",
            "last",
        ]
    )
    a, b = (torch.load(p / "checkpoints" / "last.ckpt", weights_only=False) for p in (straight, resumed))
    assert a["global_step"] == b["global_step"] == 2 * 3 * 2  # 3 epochs x 2 batches x 2 optimizer steps
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"]):
        for index, state in opt_a["state"].items():
            assert torch.equal(state["exp_avg_sq"], opt_b["state"][index]["exp_avg_sq"])


def test_l1_only_run_from_the_command_line(tmp_path):
    root = tmp_path / "l1"
    main(["fit", "--config", TINY, "--model.reblur_net", "null", "--trainer.default_root_dir", str(root)])
    state = torch.load(root / "checkpoints" / "last.ckpt", weights_only=False)
    assert len(state["optimizer_states"]) == 1
    assert not any(k.startswith("reblur_net.") for k in state["state_dict"])


def _make_configs_module():
    spec = importlib.util.spec_from_file_location("make_configs", REPO / "configs" / "reblur" / "make_configs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_configs_are_the_generated_ones():
    generated = _make_configs_module().all_configs()
    assert len(generated) == 18  # GOPRO/REDS x U-Net/SRN/DHN x L1/reblur n1/reblur n2
    for name, text in generated.items():
        assert (REPO / "configs" / "reblur" / name).read_text() == text, name


CONFIGS = sorted((REPO / "configs" / "reblur").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_config_parses_and_prints(config, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "class_path: reblur.networks." in printed and "class_path: reblur.data." in printed
    if "reblur_n" in config.stem or config.stem == "demo":
        assert "ReblurringModule" in printed


def test_ddp_config_with_the_wandb_logger_parses(capsys):
    configs = ("reblur/demo.yaml", "trainer/ddp.yaml", "logger/wandb.yaml")
    with pytest.raises(SystemExit):
        main(["fit", *(f"--config={REPO / 'configs' / name}" for name in configs), "--print_config"])
    printed = capsys.readouterr().out
    assert "strategy: ddp_find_unused_parameters_true" in printed and "WandbLogger" in printed


def test_wandb_offline_logs_metrics_and_panels(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    root = tmp_path / "wandb_run"
    wandb = [f"--config={REPO / 'configs' / 'logger' / 'wandb.yaml'}", "--trainer.logger.init_args.offline=true"]
    main(
        [
            "fit",
            "--config",
            TINY,
            *wandb,
            f"--trainer.logger.init_args.save_dir={root}",
            f"--trainer.default_root_dir={root}",
            "--trainer.max_epochs=1",
        ]
    )
    import wandb

    wandb.finish()  # the logger leaves the run open; finishing flushes it
    runs = list((root / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    media = list(runs[0].rglob("*.png"))
    assert any("val_panels" in str(p) for p in media)


TTA_CONFIGS = sorted((REPO / "configs" / "reblur" / "tta").glob("*.yaml"))


@pytest.mark.parametrize("config", TTA_CONFIGS, ids=[c.stem for c in TTA_CONFIGS])
def test_adaptation_configs_switch_adaptation_on_for_test(config, capsys):
    model = "demo" if config.stem == "demo" else f"{config.stem}_unet_reblur_n1"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "test",
                "--config",
                str(REPO / "configs" / "reblur" / f"{model}.yaml"),
                "--config",
                str(config),
                "--print_config",
            ]
        )
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "adapt: true" in printed and "steps: 5" in printed


def test_test_scores_with_the_command_lines_conventions_not_the_checkpoints(tmp_path):
    quick = ["--trainer.max_steps", "1", "--trainer.limit_val_batches", "0", "--checkpoint.monitor", "null"]
    main(["fit", "--config", TINY, "--trainer.default_root_dir", str(tmp_path), *quick])  # evaluation: psnr, ssim
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert "evaluation" not in torch.load(ckpt, weights_only=True)["hyper_parameters"]
    scoring = [
        "--trainer.default_root_dir",
        str(tmp_path),
        "--model.evaluation.metrics",
        "[psnr]",
        "--model.evaluation.color",
        "gray",
    ]
    cli = run(["test", "--config", TINY, "--ckpt_path", str(ckpt), *scoring])
    assert cli.model.evaluation.metrics == ("psnr",) and cli.model.evaluation.color == "gray"
    assert set(cli.trainer.callback_metrics) >= {"test/psnr"} and "test/ssim" not in cli.trainer.callback_metrics


def test_interval_checkpoint_saves_before_validation_and_resume_says_where_it_starts(
    tmp_path, capsys, caplog, monkeypatch
):
    root = tmp_path / "run"
    base = ["fit", "--config", TINY, "--trainer.default_root_dir", str(root), "--ckpt_path", "last"]
    base += ["--trainer.max_epochs", "10"]  # max_steps decides
    # 3 iterations, validation only at the end of each 2-batch epoch: the interval checkpoint is what keeps
    # the third iteration.
    with caplog.at_level("INFO"):
        main([*base, "--trainer.max_steps", "3", "--interval_checkpoint.every_n_iterations", "1"])
    err = capsys.readouterr().err
    assert f"no checkpoint in {root / 'checkpoints'} yet; training starts from iteration 0" in err
    last = root / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 3 * 2  # 3 iterations x 2 optimizer steps
    assert not list((root / "checkpoints").glob(".*.tmp"))
    # Lightning's own "max_steps=6 reached" counts optimizer steps; the message says iterations.
    stops = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert stops == ["`Trainer.fit` stopped: `max_steps=3` iterations (6 optimizer steps, 2 per iteration) reached."]

    # Iteration 4 ends the second epoch: validation runs and the ModelCheckpoint saves last.ckpt, which the
    # interval checkpoint does not write again.
    saves = []
    monkeypatch.setattr(IntervalCheckpoint, "_save", lambda self, trainer: saves.append(trainer.global_step))
    main([*base, "--trainer.max_steps", "4"])
    assert f"resuming from {last}" in capsys.readouterr().err
    assert torch.load(last, weights_only=False)["global_step"] == 4 * 2 and saves == []
    assert [p.name for p in (root / "checkpoints").glob("last*")] == ["last.ckpt"]  # no last-v1.ckpt beside it


def test_a_run_stopped_by_sigterm_saves_last_ckpt_at_once_and_exits_143(tmp_path, capsys):
    root = tmp_path / "run"
    base = ["fit", "--config", TINY, "--trainer.default_root_dir", str(root), "--ckpt_path", "last"]
    base += ["--trainer.max_epochs", "10", "--trainer.max_steps", "6"]
    # SIGTERM after the third iteration, before any validation or interval save (every 10 minutes by default).
    stop = ["--trainer.callbacks+=tests.callbacks.TerminateAfterBatches", "--trainer.callbacks.init_args.batches", "3"]
    with pytest.raises(SystemExit) as ended:
        main([*base, *stop])
    assert ended.value.code == 143
    assert capsys.readouterr().err.rstrip().endswith("reblur: error: stopped by SIGTERM after the step in progress")
    last = root / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 3 * 2  # 3 iterations x 2 optimizer steps
    main(base)
    assert f"resuming from {last}" in capsys.readouterr().err
    assert torch.load(last, weights_only=False)["global_step"] == 6 * 2
