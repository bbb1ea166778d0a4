"""``selfdeblur fit``: LightningCLI over :class:`SelfDeblur` and :class:`SelfDeblurDataModule` (the command itself,
help and errors: :mod:`selfdeblur.cli`)."""

from __future__ import annotations

from typing import Any

from deblur_core.devices import asks_for_several_processes
from deblur_core.lightning_cli import OneLineErrorsCLI
from selfdeblur.callbacks import ImageCheckpoint, LatentSnapshots, ResultWriter, SelfDeblurProgressBar
from selfdeblur.data import SelfDeblurDataModule
from selfdeblur.host_memory import KeepFreedHostMemory
from selfdeblur.lightning_module import SelfDeblur
from selfdeblur.strategy import NAME as STRATEGY_NAME

TRAINER_DEFAULTS: dict[str, Any] = {
    "max_epochs": 1,  # one pass over the images; each image's steps are its batches
    "enable_checkpointing": False,  # resume is per image, from the written results
    "enable_model_summary": False,  # the networks are built per image, after the summary
    "log_every_n_steps": 50,
}


class SelfDeblurCLI(OneLineErrorsCLI):
    """LightningCLI with SelfDeblur's result writer (``--output.*``), in-progress state (``--resume.*``), snapshots
    (``--snapshots.*``), host memory policy on the CPU (``--host_memory.enabled``) and progress bar; only the
    ``fit`` subcommand."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_lightning_class_args(ResultWriter, "output")
        # After the writer: at a group's last step the results are written before its in-progress state goes.
        parser.add_lightning_class_args(ImageCheckpoint, "resume")
        parser.add_lightning_class_args(LatentSnapshots, "snapshots")
        parser.add_lightning_class_args(KeepFreedHostMemory, "host_memory")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        trainer = config["trainer"]
        several = asks_for_several_processes(
            trainer.get("devices"), trainer.get("accelerator"), trainer.get("num_nodes")
        )
        if several and trainer.get("strategy") in (None, "auto", "ddp"):
            # Images are independent problems: one process per device, each with its own share, no DDP wrapper.
            trainer["strategy"] = STRATEGY_NAME
        if trainer.get("default_root_dir") is None:
            # Logs and the saved config go beside the results unless the user says otherwise.
            trainer["default_root_dir"] = config["output"]["dir"]
        callbacks = trainer.get("callbacks") or []
        custom_bar = any("ProgressBar" in str(getattr(c, "class_path", c)) for c in callbacks)
        wants_bar = trainer.get("enable_progress_bar") is not False
        self.trainer_defaults["callbacks"] = [SelfDeblurProgressBar()] if wants_bar and not custom_bar else []


def run(args: list[str]) -> SelfDeblurCLI:
    """Parse ``args`` (``fit ...``) and run the subcommand."""
    return SelfDeblurCLI(
        SelfDeblur,
        SelfDeblurDataModule,
        trainer_defaults=dict(TRAINER_DEFAULTS),
        seed_everything_default=0,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={
            "prog": "selfdeblur",
            "fit": {"description": "Solve every image of the data source with SelfDeblur."},
        },
        args=args,
    )
