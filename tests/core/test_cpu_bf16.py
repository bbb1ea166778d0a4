"""The warning for bf16 precision on a CPU without bf16 instructions (deblur_core/cpu_bf16.py)."""

from __future__ import annotations

import warnings

import pytest
from pytorch_lightning import Trainer

from deblur_core import cpu_bf16
from deblur_core.cpu_bf16 import emulated_bf16_message, warn_if_bf16_is_emulated
from tests.helpers import REPO


@pytest.mark.parametrize(
    ("precision", "on_cpu", "has_bf16", "warns"),
    [
        ("bf16-mixed", True, False, True),
        ("bf16-true", True, False, True),
        ("bf16-mixed", True, True, False),  # native bf16 kernels: the option is a speed-up there
        ("bf16-mixed", False, False, False),  # a GPU: the CPU's instructions do not matter
        ("32-true", True, False, False),
        ("16-mixed", True, False, False),
    ],
)
def test_only_bf16_on_a_cpu_without_bf16_instructions_is_reported(precision, on_cpu, has_bf16, warns):
    message = emulated_bf16_message(precision, on_cpu=on_cpu, cpu_has_bf16=has_bf16)
    assert (message is not None) == warns
    if warns:
        assert message.startswith(f"--trainer.precision {precision} ") and "32-true" in message


@pytest.mark.parametrize("has_bf16", [False, True])
def test_a_cpu_trainer_in_bf16_warns_exactly_when_the_cpu_lacks_bf16(monkeypatch, has_bf16):
    monkeypatch.setattr(cpu_bf16, "cpu_has_bf16", lambda: has_bf16)
    trainer = Trainer(accelerator="cpu", precision="bf16-mixed", logger=False, enable_checkpointing=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_if_bf16_is_emulated(trainer)
    emulated = [w for w in caught if "without bf16 instructions" in str(w.message)]
    assert len(emulated) == (0 if has_bf16 else 1)


def test_the_commands_warn_before_the_run(monkeypatch, tmp_path):
    from reblur.cli import main

    monkeypatch.setattr(cpu_bf16, "cpu_has_bf16", lambda: False)
    args = [
        "validate",
        "--config",
        str(REPO / "configs" / "reblur" / "demo.yaml"),
        "--trainer.default_root_dir",
        str(tmp_path),
    ]
    args += ["--trainer.precision", "bf16-mixed", "--trainer.accelerator", "cpu", "--trainer.limit_val_batches", "0"]
    args += ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
    args += ["--data.init_args.image_size", "32", "--data.init_args.crop_size", "32"]
    with pytest.warns(UserWarning, match="bf16-mixed on a CPU without bf16 instructions"):
        main(args)
