"""``selfdeblur`` command line: LightningCLI over :class:`SelfDeblur` and :class:`SelfDeblurDataModule`.

Usage::

    selfdeblur fit --config configs/selfdeblur/levin.yaml [--output.dir results/levin]
    selfdeblur fit --data.images photo.jpg --data.kernel_size 31 --model.steps 2500
    selfdeblur fit --config configs/selfdeblur/levin.yaml --config configs/logger/wandb.yaml
    selfdeblur fit --config configs/selfdeblur/levin.yaml --print_config

``fit`` solves every image of the data source and writes, per image, the deblurred PNG and the
kernel (PNG and .npy) under ``--output.dir`` (default ``results/selfdeblur``), plus ``summary.csv``;
logs and the run's ``config.yaml`` go there too unless ``--trainer.default_root_dir`` is given.
Starting the same command again skips the images that are done.
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.cli import ArgsType, LightningCLI

from selfdeblur.callbacks import LatentSnapshots, ResultWriter, SelfDeblurProgressBar
from selfdeblur.data import SelfDeblurDataModule
from selfdeblur.module import SelfDeblur

TRAINER_DEFAULTS: dict[str, Any] = {
    "max_epochs": 1,  # one pass over the images; each image's steps are its batches
    "enable_checkpointing": False,  # resume is per image, from the written results
    "enable_model_summary": False,  # the networks are built per image, after the summary
    "log_every_n_steps": 50,
}


class SelfDeblurCLI(LightningCLI):
    """LightningCLI with SelfDeblur's result writer (``--output.*``), snapshots (``--snapshots.*``)
    and progress bar; only the ``fit`` subcommand."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_lightning_class_args(ResultWriter, "output")
        parser.add_lightning_class_args(LatentSnapshots, "snapshots")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        trainer = config["trainer"]
        if trainer.get("default_root_dir") is None:
            # Logs and the saved config go beside the results unless the user says otherwise.
            trainer["default_root_dir"] = config["output"]["dir"]
        callbacks = trainer.get("callbacks") or []
        custom_bar = any("ProgressBar" in str(getattr(c, "class_path", c)) for c in callbacks)
        wants_bar = trainer.get("enable_progress_bar") is not False
        self.trainer_defaults["callbacks"] = [SelfDeblurProgressBar()] if wants_bar and not custom_bar else []


def main(args: ArgsType = None) -> None:
    """Run the ``selfdeblur`` command with ``args`` (default: ``sys.argv[1:]``)."""
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
