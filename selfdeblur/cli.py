"""``selfdeblur`` command line: LightningCLI over :class:`SelfDeblur` and :class:`SelfDeblurDataModule`.

Usage::

    selfdeblur fit --config configs/selfdeblur/levin.yaml [--output.dir results/levin]
    selfdeblur fit --data.images photo.jpg --data.kernel_size 31 --model.steps 2500
    selfdeblur fit --config configs/selfdeblur/levin.yaml --config configs/logger/wandb.yaml
    selfdeblur fit --config configs/selfdeblur/levin.yaml --print_config
    selfdeblur fit --config configs/selfdeblur/levin.yaml --trainer.devices 4   # images shared among 4 GPUs
    selfdeblur evaluate --results results/levin --dataset levin [--delta]        # Levin's protocol, Table 3

``fit`` solves every image of the data source and writes, per image, the deblurred PNG and the
kernel (PNG and .npy) under ``--output.dir`` (default ``results/selfdeblur``), plus ``summary.csv``;
logs and the run's ``config.yaml`` go there too unless ``--trainer.default_root_dir`` is given.
Starting the same command again skips the images that are done.
"""

from __future__ import annotations

import sys
from typing import Any

from pytorch_lightning.cli import ArgsType, LightningCLI

from selfdeblur.callbacks import LatentSnapshots, ResultWriter, SelfDeblurProgressBar
from selfdeblur.data import SelfDeblurDataModule
from selfdeblur.host_memory import KeepFreedHostMemory
from selfdeblur.lightning_module import SelfDeblur
from selfdeblur.strategy import NAME as STRATEGY_NAME
from selfdeblur.strategy import asks_for_several_devices

TRAINER_DEFAULTS: dict[str, Any] = {
    "max_epochs": 1,  # one pass over the images; each image's steps are its batches
    "enable_checkpointing": False,  # resume is per image, from the written results
    "enable_model_summary": False,  # the networks are built per image, after the summary
    "log_every_n_steps": 50,
}


class SelfDeblurCLI(LightningCLI):
    """LightningCLI with SelfDeblur's result writer (``--output.*``), snapshots (``--snapshots.*``),
    host memory policy on the CPU (``--host_memory.enabled``) and progress bar; only the ``fit`` subcommand."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_lightning_class_args(ResultWriter, "output")
        parser.add_lightning_class_args(LatentSnapshots, "snapshots")
        parser.add_lightning_class_args(KeepFreedHostMemory, "host_memory")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        trainer = config["trainer"]
        if asks_for_several_devices(trainer.get("devices"), trainer.get("accelerator")) and trainer.get("strategy") in (
            None,
            "auto",
            "ddp",
        ):
            # Images are independent problems: one process per device, each with its own share, no DDP wrapper.
            trainer["strategy"] = STRATEGY_NAME
        if trainer.get("default_root_dir") is None:
            # Logs and the saved config go beside the results unless the user says otherwise.
            trainer["default_root_dir"] = config["output"]["dir"]
        callbacks = trainer.get("callbacks") or []
        custom_bar = any("ProgressBar" in str(getattr(c, "class_path", c)) for c in callbacks)
        wants_bar = trainer.get("enable_progress_bar") is not False
        self.trainer_defaults["callbacks"] = [SelfDeblurProgressBar()] if wants_bar and not custom_bar else []


def main(args: ArgsType = None) -> None:
    """Run the ``selfdeblur`` command with ``args`` (default: ``sys.argv[1:]``)."""
    argv = sys.argv[1:] if args is None else args
    if isinstance(argv, (list, tuple)) and argv and argv[0] == "evaluate":
        # Scoring needs no Trainer: a plain argparse command (see selfdeblur.evaluate).
        from selfdeblur.evaluate import main as evaluate

        evaluate(list(argv[1:]))
        return
    SelfDeblurCLI(
        SelfDeblur,
        SelfDeblurDataModule,
        trainer_defaults=dict(TRAINER_DEFAULTS),
        seed_everything_default=0,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"fit": {"description": "Solve every image of the data source with SelfDeblur."}},
        args=args,
    )


if __name__ == "__main__":
    main()
