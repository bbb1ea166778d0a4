"""``reblur`` command line: LightningCLI over :class:`~reblur.module.ReblurTraining` and the paired DataModules.

Usage::

    reblur fit --config configs/reblur/gopro_unet_reblur_n1.yaml
    reblur fit --config configs/reblur/gopro_unet_reblur_n1.yaml --config configs/trainer/ddp.yaml --trainer.devices 4
    reblur fit --config configs/reblur/gopro_unet_reblur_n1.yaml --config configs/logger/wandb.yaml
    reblur fit --config configs/reblur/demo.yaml --ckpt_path last        # resume a killed run
    reblur test --config configs/reblur/gopro_unet_reblur_n1.yaml --ckpt_path PATH.ckpt
    reblur fit --config configs/reblur/demo.yaml --print_config

Checkpoints go to ``<default_root_dir>/checkpoints`` (``last.ckpt`` and the best by ``val/psnr``), so
``--ckpt_path last`` finds the newest one of an interrupted run. With more than one device, the
DDP strategy is switched to ``ddp_find_unused_parameters_true``: each of the two alternating
backward passes leaves the other network's parameters without gradient.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import ArgsType, LightningCLI

from reblur.callbacks import RandomStateCheckpoint, ValidationPanels
from reblur.data import PairedDataModule
from reblur.module import ReblurTraining

TRAINER_DEFAULTS: dict[str, Any] = {"log_every_n_steps": 50}
DDP_UNUSED = "ddp_find_unused_parameters_true"


def uses_several_devices(trainer: dict[str, Any]) -> bool:
    """Whether the trainer options ask for more than one device (or process)."""
    devices, nodes = trainer.get("devices", "auto"), trainer.get("num_nodes", 1) or 1
    if nodes > 1:
        return True
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)
    if isinstance(devices, int):
        return devices > 1 or (devices == -1 and torch.cuda.device_count() > 1)
    accelerator = str(trainer.get("accelerator", "auto"))
    return devices == "auto" and accelerator in ("auto", "gpu", "cuda") and torch.cuda.device_count() > 1


class ReblurCLI(LightningCLI):
    """LightningCLI with checkpoints (``--checkpoint.*``), validation panels (``--panels.*``) and random
    states kept in checkpoints."""

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.monitor": "val/psnr",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best-{epoch}-{step}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_lightning_class_args(ValidationPanels, "panels")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        trainer = config["trainer"]
        if config["checkpoint"].get("dirpath") is None:
            root = trainer.get("default_root_dir") or "."
            config["checkpoint"]["dirpath"] = str(Path(root) / "checkpoints")
        strategy = trainer.get("strategy", "auto")
        if isinstance(strategy, str) and strategy in ("auto", "ddp") and uses_several_devices(trainer):
            trainer["strategy"] = DDP_UNUSED
        self.trainer_defaults["callbacks"] = [RandomStateCheckpoint()]


def main(args: ArgsType = None) -> None:
    """Run the ``reblur`` command with ``args`` (default: ``sys.argv[1:]``)."""
    ReblurCLI(
        ReblurTraining,
        PairedDataModule,
        subclass_mode_data=True,
        trainer_defaults=dict(TRAINER_DEFAULTS),
        seed_everything_default=0,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        args=args,
    )


if __name__ == "__main__":
    main()
