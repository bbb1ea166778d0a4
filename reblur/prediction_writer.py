"""Writing the deblurred images of ``reblur predict`` to a folder, resumably and once per image.

:class:`PredictionWriter` stores the output for the input named ``NAME`` (a relative POSIX path,
e.g. ``"trip/img_01.jpg"``) at ``output_dir/NAME``: same relative path, same format (from the
suffix; names without an image suffix get ``.png``), same size as the input. JPEG and WebP are
written at quality 95 (JPEG without chroma subsampling); PNG, TIFF and BMP are lossless 8-bit.
Grayscale inputs are written as grayscale (the mean of the three output channels). Every file is
written under a temporary name and renamed, so a file at its final name is complete.

Skipping what is done: when predicting starts (``setup``), the outputs that exist already are
looked up by global rank 0 alone and the DataModule is told to leave those inputs out
(``skip_predictions``) before anything is loaded. Rank 0 decides for all ranks (a broadcast)
because the others could look after it had started writing, and differing lists would split the
images differently between the ranks. ``overwrite=True`` deblurs and rewrites everything.

Unreadable inputs arrive as marker batches (:mod:`reblur.data.folder_images`); they are collected
and, when the run ends, listed together with the counts (gathered over all ranks) and in
``output_dir/unreadable.txt`` (``NAME<TAB>reason`` per line; removed when a run finds none);
:attr:`PredictionWriter.unreadable_total` then holds their number on every rank, and ``reblur predict``
exits with status :data:`UNREADABLE_INPUTS_STATUS` (3) after writing everything it could.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter

from deblur_core.cli_errors import UsageError
from deblur_core.files import atomic_write_text
from deblur_core.image_io import IMAGE_EXTENSIONS, save_image
from reblur.data.folder_images import is_unreadable

UNREADABLE_LIST = "unreadable.txt"
# Exit status of `reblur predict` when some inputs could not be read (1 and 2 are errors that stop the run).
UNREADABLE_INPUTS_STATUS = 3


def gather_objects(trainer: pl.Trainer, value: Any) -> list[Any]:
    """``value`` of every rank (rank order); ``[value]`` in a single-process run."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if trainer.world_size == 1 or not distributed:
        return [value]
    gathered: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(gathered, value)
    return gathered


class PredictionWriter(BasePredictionWriter):
    """Writes each image deblurred by ``predict`` under ``output_dir`` (see the module docstring).

    Expects ``predict_step`` to return ``{"deblurred": (N, 3, H, W) in [0, 1], "name": list[str]}``
    (no ``"deblurred"`` for unreadable inputs), as :meth:`reblur.lightning_module.ReblurTraining.predict_step` does.

    Args:
        output_dir: the output folder; must not lie inside the DataModule's ``predict_dir``.
        overwrite: deblur and rewrite images whose output exists (default: keep and skip them).
    """

    def __init__(self, output_dir: str | os.PathLike, overwrite: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.overwrite = overwrite
        self.written = 0
        self.kept = 0
        self.unreadable: list[tuple[str, str]] = []
        self.unreadable_total = 0

    def output_path(self, name: str) -> Path:
        """Where the output for the input called ``name`` goes."""
        path = self.output_dir / name
        return path if path.suffix.lower() in IMAGE_EXTENSIONS else path.with_name(path.name + ".png")

    # -- before predicting ------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "predict":
            return
        self.written, self.kept, self.unreadable, self.unreadable_total = 0, 0, [], 0
        # Lightning sets trainer.datamodule at run time without declaring it on the Trainer class.
        datamodule = trainer.datamodule  # type: ignore[attr-defined]
        self._refuse_output_among_inputs(getattr(datamodule, "predict_dir", None))
        if self.overwrite or not hasattr(datamodule, "skip_predictions"):
            return
        done = None
        if trainer.is_global_zero:
            done = [name for name in datamodule.predict_names() if self.output_path(name).is_file()]
        done = trainer.strategy.broadcast(done, src=0)
        assert done is not None  # rank 0's list, now on every rank
        datamodule.skip_predictions(done)
        if trainer.is_global_zero:
            self.kept = len(done)

    def _refuse_output_among_inputs(self, predict_dir: str | None) -> None:
        # Outputs inside the input folder would replace inputs or be deblurred again by the next run.
        if predict_dir is None:
            return
        inputs, outputs = Path(predict_dir).resolve(), self.output_dir.resolve()
        if outputs == inputs or inputs in outputs.parents:
            raise UsageError(f"output_dir '{self.output_dir}' must not lie inside predict_dir '{predict_dir}'")

    # -- writing ----------------------------------------------------------------------------------
    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: dict[str, Any] | None,
        batch_indices: Sequence[int] | None,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if is_unreadable(batch):
            self.unreadable += list(zip(batch["name"], batch["error"]))
            return
        if prediction is None or "deblurred" not in prediction:
            return
        gray = batch.get("gray")
        for i, name in enumerate(prediction["name"]):
            path = self.output_path(name)
            # Also checked here for DataModules that cannot skip inputs ahead.
            if not self.overwrite and path.is_file():
                self.kept += 1
                continue
            image = prediction["deblurred"][i]
            if gray is not None and bool(gray[i]):
                image = image.mean(0, keepdim=True)
            save_image(path, image)
            self.written += 1

    # -- after predicting -------------------------------------------------------------------------
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # In teardown, not on_predict_end: a rank with nothing left to deblur skips the predict hooks,
        # and the gather below needs every rank.
        if stage != "predict":
            return
        reports = gather_objects(trainer, (self.written, self.kept, self.unreadable))
        unreadable = sorted(entry for r in reports for entry in r[2])
        self.unreadable_total = len(unreadable)
        if not trainer.is_global_zero:
            return
        written, kept = sum(r[0] for r in reports), sum(r[1] for r in reports)
        message = f"predict: wrote {written} image(s) to '{self.output_dir}', kept {kept} existing"
        listing = self.output_dir / UNREADABLE_LIST
        if unreadable:
            text = "".join(f"{name}\t{reason}\n" for name, reason in unreadable)
            atomic_write_text(listing, text)
            lines = "".join(f"\n  - {name}: {reason}" for name, reason in unreadable)
            message += f"; {len(unreadable)} unreadable input(s) skipped (listed in '{listing}'):{lines}"
        else:
            listing.unlink(missing_ok=True)  # a list left by an earlier run would be stale
        # A plain print: the progress bar is closed by now, and a closed tqdm bar swallows writes.
        print(message, flush=True)
