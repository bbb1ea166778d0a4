"""``reblur fit|validate|test|predict``: LightningCLI over :class:`~reblur.lightning_module.ReblurTraining` and the
paired DataModules (the command itself, help and errors: :mod:`reblur.cli`).

Checkpoints go to ``<default_root_dir>/checkpoints``: ``last.ckpt`` and the best by ``val/psnr`` after each
validation, and ``last.ckpt`` also every 10 minutes of training (``--interval_checkpoint.every_minutes``) and,
when set, every N iterations (``--interval_checkpoint.every_n_iterations``), so a killed run loses at most that
(:class:`~reblur.callbacks.IntervalCheckpoint`). ``--ckpt_path last`` resumes from the newest one and says so on
stderr, or says that there is none and that training starts from iteration 0; any other ``--ckpt_path`` is
checked before the run starts (:func:`reblur.checkpoints.check_checkpoint`).

With more than one process (devices x nodes), the DDP strategy is switched to
``ddp_find_unused_parameters_true``: each of the two alternating backward passes leaves the other network's
parameters without gradient. Several nodes: docs/multi_node.md.

``predict`` with ``--output_dir`` writes every deblurred image to ``OUT/<name>`` through
:class:`~reblur.prediction_writer.PredictionWriter` (outputs that exist are kept unless ``--overwrite``;
unreadable inputs are listed at the end, and the command then exits with status
:data:`UNREADABLE_INPUTS_STATUS`) instead of returning them; with ``--data.predict_dir`` the names are the
photos' paths relative to that folder.

``test`` and ``predict`` with ``--adapt`` adapt a copy of M_D to each image before deblurring it
(:class:`~reblur.adaptation.TestTimeAdaptation`, options ``--tta.steps``, ``--tta.lr``,
``--tta.params``, ``--tta.proximity_weight``, ``--tta.crop``, ``--tta.reblur_lr``, ``--tta.per``; in YAML
``adapt: true`` and a ``tta:`` block, e.g. ``configs/reblur/tta/demo.yaml``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser

from deblur_core.cli_errors import UsageError
from deblur_core.devices import asks_for_several_processes
from deblur_core.lightning_cli import OneLineErrorsCLI
from reblur.adaptation import TestTimeAdaptation
from reblur.callbacks import IntervalCheckpoint, RandomStateCheckpoint, ValidationPanels
from reblur.checkpoints import check_checkpoint
from reblur.data import PairedDataModule
from reblur.lightning_module import ReblurTraining
from reblur.prediction_writer import UNREADABLE_INPUTS_STATUS, PredictionWriter

TRAINER_DEFAULTS: dict[str, Any] = {"log_every_n_steps": 50}
DDP_UNUSED = "ddp_find_unused_parameters_true"
ADAPTING_SUBCOMMANDS = ("test", "predict")


def _add_switch(parser: LightningArgumentParser, flag: str, help: str) -> None:
    """A boolean option, false by default; given alone (``--flag``) it means true."""
    parser.add_argument(flag, type=bool, nargs="?", const=True, default=False, help=help)


class ReblurCLI(OneLineErrorsCLI):
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
        parser.add_lightning_class_args(IntervalCheckpoint, "interval_checkpoint")

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads --ckpt_path here, right after parsing and before any hook: check the file first, so
        # that a bad one gets a message naming it instead of torch's.
        if self.config.get("subcommand"):
            check_checkpoint(self.config[self.config.subcommand].get("ckpt_path"))
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        trainer = config["trainer"]
        if config["checkpoint"].get("dirpath") is None:
            root = trainer.get("default_root_dir") or "."
            config["checkpoint"]["dirpath"] = str(Path(root) / "checkpoints")
        strategy = trainer.get("strategy", "auto")
        several = asks_for_several_processes(
            trainer.get("devices", "auto"), trainer.get("accelerator", "auto"), trainer.get("num_nodes", 1)
        )
        if isinstance(strategy, str) and strategy in ("auto", "ddp") and several:
            trainer["strategy"] = DDP_UNUSED
        self.trainer_defaults["callbacks"] = [RandomStateCheckpoint()]
        if self.subcommand == "predict":
            self._add_prediction_writer(config)
        if self.subcommand in ADAPTING_SUBCOMMANDS and config["adapt"]:
            tta = {key: value for key, value in vars(config["tta"]).items() if not key.startswith("__")}
            self.trainer_defaults["callbacks"].append(TestTimeAdaptation(**tta))

    def before_fit(self) -> None:
        if self.config["fit"].get("ckpt_path") != "last":
            return
        folder = IntervalCheckpoint.folder(self.trainer)
        found = sorted(folder.glob(f"*{ModelCheckpoint.CHECKPOINT_NAME_LAST}*{ModelCheckpoint.FILE_EXTENSION}"))
        if not found:
            message = f"reblur fit: --ckpt_path last: no checkpoint in {folder} yet; training starts from iteration 0"
        else:
            newest = max(found, key=lambda path: path.stat().st_mtime)
            message = f"reblur fit: --ckpt_path last: resuming from {newest}"
        if self.trainer.is_global_zero:
            print(message, file=sys.stderr, flush=True)

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
                raise UsageError("--data.predict_dir needs --output_dir: where should the deblurred photos go?")
            return
        self.trainer_defaults["callbacks"].append(PredictionWriter(output_dir, overwrite=config["overwrite"]))
        if config.get("return_predictions") is None:
            # The images are on disk; holding every full-size output in memory too would grow without bound.
            config["return_predictions"] = False


def run(args: list[str]) -> ReblurCLI:
    """Parse ``args`` (``fit ...``, ``test ...``, ...) and run the subcommand. ``predict`` exits with status
    :data:`UNREADABLE_INPUTS_STATUS` when inputs could not be read (everything readable was written)."""
    cli = ReblurCLI(
        ReblurTraining,
        PairedDataModule,
        subclass_mode_data=True,
        trainer_defaults=dict(TRAINER_DEFAULTS),
        seed_everything_default=0,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": "reblur"},
        args=args,
    )
    # Lightning sets trainer.callbacks at run time without declaring it on the Trainer class.
    writers = [c for c in cli.trainer.callbacks if isinstance(c, PredictionWriter)]  # type: ignore[attr-defined]
    if cli.subcommand == "predict" and any(writer.unreadable_total for writer in writers):
        raise SystemExit(UNREADABLE_INPUTS_STATUS)
    return cli
