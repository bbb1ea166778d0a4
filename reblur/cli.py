"""``reblur`` command line: LightningCLI over :class:`~reblur.lightning_module.ReblurTraining` and the paired
DataModules.

Usage::

    reblur fit --config configs/reblur/gopro_unet_reblur_n1.yaml
    reblur fit --config configs/reblur/gopro_unet_reblur_n1.yaml --config configs/trainer/ddp.yaml --trainer.devices 4
    reblur fit --config configs/reblur/gopro_unet_reblur_n1.yaml --config configs/logger/wandb.yaml
    reblur fit --config configs/reblur/demo.yaml --ckpt_path last        # resume a killed run
    reblur test --config configs/reblur/gopro_unet_reblur_n1.yaml --ckpt_path PATH.ckpt
    reblur fit --config configs/reblur/demo.yaml --print_config
    reblur predict --config CONFIG.yaml --ckpt_path PATH.ckpt --data.predict_dir PHOTOS --output_dir OUT
    reblur test --config configs/reblur/demo.yaml --ckpt_path PATH.ckpt --adapt --tta.steps 10 --tta.lr 1e-4
    reblur evaluate --pred DIR [--target DIR] [--metrics psnr,ssim,lpips,niqe]   # see reblur.evaluate

Checkpoints go to ``<default_root_dir>/checkpoints`` (``last.ckpt`` and the best by ``val/psnr``), so
``--ckpt_path last`` finds the newest one of an interrupted run. With more than one device, the
DDP strategy is switched to ``ddp_find_unused_parameters_true``: each of the two alternating
backward passes leaves the other network's parameters without gradient.

``predict`` with ``--output_dir`` writes every deblurred image to ``OUT/<name>`` through
:class:`~reblur.prediction_writer.PredictionWriter` (outputs that exist are kept unless
``--overwrite``; unreadable inputs are listed at the end) instead of returning them; with
``--data.predict_dir`` the names are the photos' paths relative to that folder.

``test`` and ``predict`` with ``--adapt`` adapt a copy of M_D to each image before deblurring it
(:class:`~reblur.adaptation.TestTimeAdaptation`, options ``--tta.steps``, ``--tta.lr``,
``--tta.params``, ``--tta.proximity_weight``, ``--tta.per``; in YAML ``adapt: true`` and a ``tta:``
block, e.g. ``configs/reblur/tta/demo.yaml``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI

from reblur.adaptation import TestTimeAdaptation
from reblur.callbacks import RandomStateCheckpoint, ValidationPanels
from reblur.data import PairedDataModule
from reblur.lightning_module import ReblurTraining
from reblur.prediction_writer import PredictionWriter

TRAINER_DEFAULTS: dict[str, Any] = {"log_every_n_steps": 50}
DDP_UNUSED = "ddp_find_unused_parameters_true"
ADAPTING_SUBCOMMANDS = ("test", "predict")


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


def _add_switch(parser: LightningArgumentParser, flag: str, help: str) -> None:
    """A boolean option, false by default; given alone (``--flag``) it means true."""
    parser.add_argument(flag, type=bool, nargs="?", const=True, default=False, help=help)


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
        if self.subcommand == "predict":
            self._add_prediction_writer(config)
        if self.subcommand in ADAPTING_SUBCOMMANDS and config["adapt"]:
            tta = {key: value for key, value in vars(config["tta"]).items() if not key.startswith("__")}
            self.trainer_defaults["callbacks"].append(TestTimeAdaptation(**tta))

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        # The one place that knows which subcommand a parser is for (add_arguments_to_parser does not):
        # the output options exist for predict only, so `fit --output_dir` is an error, not ignored.
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand in ADAPTING_SUBCOMMANDS:
            _add_switch(parser, "--adapt", "test-time adaptation of M_D to each image (options: --tta.*)")
            # Options only: the callback is built in before_instantiate_classes when --adapt is on.
            parser.add_class_arguments(TestTimeAdaptation, "tta", instantiate=False)
        if subcommand == "predict":
            parser.add_argument(
                "--output_dir", type=str | None, default=None, help="write the deblurred images to this folder"
            )
            _add_switch(parser, "--overwrite", "rewrite outputs that exist (default: keep and skip them)")
        return parser

    def _add_prediction_writer(self, config: Any) -> None:
        output_dir, predict_dir = config.get("output_dir"), config.get("data.init_args.predict_dir")
        if output_dir is None:
            if predict_dir is not None:
                raise ValueError("--data.predict_dir needs --output_dir: where should the deblurred photos go?")
            return
        self.trainer_defaults["callbacks"].append(PredictionWriter(output_dir, overwrite=config["overwrite"]))
        if config.get("return_predictions") is None:
            # The images are on disk; holding every full-size output in memory too would grow without bound.
            config["return_predictions"] = False


def main(args: ArgsType = None) -> None:
    """Run the ``reblur`` command with ``args`` (default: ``sys.argv[1:]``)."""
    argv = sys.argv[1:] if args is None else args
    if isinstance(argv, (list, tuple)) and argv and argv[0] == "evaluate":
        # Evaluation needs no model or trainer: a plain argparse command, kept out of LightningCLI.
        from reblur.evaluate import main as evaluate

        evaluate(list(argv[1:]))
        return
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
