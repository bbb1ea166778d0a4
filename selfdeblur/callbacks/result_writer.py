"""Writing every solved image and its summary row, and resuming a stopped run from what is written."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_warn

from deblur_core.color import to_luma
from deblur_core.files import atomic_write_csv, atomic_write_text
from selfdeblur.callbacks.progress_bar import say
from selfdeblur.data import SelfDeblurDataModule
from selfdeblur.metrics import aligned_psnr, kernel_distance
from selfdeblur.result import DeblurResult, is_failure
from selfdeblur.settings_record import differences as setting_differences
from selfdeblur.settings_record import flat_settings

if TYPE_CHECKING:
    from selfdeblur.lightning_module import SelfDeblur

SUMMARY_FIELDS = (
    "name",
    "source",
    "kernel_size",
    "steps",
    "final_loss",
    "seconds",
    "group_size",
    "device",
    "rank",
    "psnr_db",
    "psnr_shift",
    "blurry_psnr_db",
    "kernel_distance",
    "status",
    "settings",
)
SETTINGS_FOLDER = "settings"  # <output>/settings/<id>.json: the settings a "settings" id stands for


class ResultWriter(Callback):
    """Writes every solved image and keeps a summary table; skips images already solved.

    For an image ``NAME`` it writes, under ``dir``, ``NAME_deblurred.png``, ``NAME_kernel.png``
    (convolution orientation, scaled to max 255) and ``NAME_kernel.npy`` (raw, sums to 1), then
    adds its row to ``summary.csv`` (steps, final loss, seconds, and, when the truth is known,
    the PSNR and kernel distance after the best integer shift within ``max_shift``). Each file is
    written under a temporary name and renamed, and the summary row comes last, so an image is
    *done* exactly when its row exists and its files are present.

    When a run starts, images that are done are skipped (and kept), unless ``overwrite`` is set. Each row records
    the settings its image was solved with (``settings``: an id of the options, seed, precision and kernel size,
    spelled out in ``settings/<id>.json``), and ``status``: ``ok``, ``collapsed: ...`` (written, likely wrong), or
    ``failed: ...`` (the loss became NaN or infinite; nothing written, solved again by the next run). A run with
    failed images ends with an error once the others are done.

    Args:
        dir: output folder (``None``: the trainer's ``default_root_dir``).
        overwrite: solve and rewrite images that are already done.
        max_shift: shift range of the comparison with the ground truth.
        keep_different: keep (and skip) images already done with other settings (kernel size, options, seed,
            precision) than this run's; without it, or ``overwrite``, such a folder stops the run before any work.
            An option that did not exist when an image was solved is no difference while at its default
            (:func:`selfdeblur.settings_record.differences`).
    """

    def __init__(
        self,
        dir: str | None = "results/selfdeblur",
        overwrite: bool = False,
        max_shift: int = 5,
        keep_different: bool = False,
    ) -> None:
        self.dir = dir
        self.overwrite = overwrite
        self.keep_different = keep_different
        self.failed: list[str] = []
        self.max_shift = max_shift
        self.root = Path(dir) if dir else None
        self.rows: dict[str, dict[str, Any]] = {}
        self.written = 0
        self.rank, self.world_size = 0, 1

    @property
    def _out_dir(self) -> Path:
        """:attr:`root`, which :meth:`setup` sets when ``dir`` is ``None``."""
        if self.root is None:
            raise RuntimeError("ResultWriter(dir=None) has no output folder before the trainer's setup")
        return self.root

    # -- resume ------------------------------------------------------------------------------
    @property
    def summary_path(self) -> Path:
        """``summary.csv``; on several processes each writes its own ``summary.rankR.csv``, merged at the end."""
        return self._out_dir / ("summary.csv" if self.world_size == 1 else f"summary.rank{self.rank}.csv")

    def read_summary(self) -> dict[str, dict[str, Any]]:
        """Rows of ``summary.csv`` and of any per-rank summaries (left by a multi-process run that was stopped)."""
        rows: dict[str, dict[str, Any]] = {}
        root = self._out_dir
        for path in [root / "summary.csv", *sorted(root.glob("summary.rank*.csv"))]:
            if not path.is_file():
                continue
            try:
                with path.open(newline="") as f:
                    rows.update({row["name"]: row for row in csv.DictReader(f)})
            except (OSError, csv.Error, KeyError) as err:
                raise ValueError(f"cannot read the summary of earlier results '{path}': {err}") from err
        return rows

    def is_done(self, name: str) -> bool:
        row = self.rows.get(name)
        if row is None or is_failure(str(row.get("status") or "ok")):
            return False
        return all(p.is_file() for p in DeblurResult.paths(self._out_dir, name).values())

    def settings_id(self, pl_module: pl.LightningModule, kernel_size: int) -> str:
        """The id of this run's settings for an image with ``kernel_size``; ``settings/<id>.json`` spells them out."""
        settings = _settings(pl_module, kernel_size)
        key = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]
        path = self._out_dir / SETTINGS_FOLDER / f"{key}.json"
        if not path.is_file():
            atomic_write_text(path, json.dumps(settings, indent=1, sort_keys=True, default=str) + "\n")
        return key

    def differences(self, row: dict[str, Any], pl_module: pl.LightningModule, kernel_size: int) -> list[str]:
        """What differs between the settings a done image was solved with and this run's (empty: the same)."""
        now = _settings(pl_module, kernel_size)
        recorded = row.get("settings") or ""
        path = self._out_dir / SETTINGS_FOLDER / f"{recorded}.json"
        if recorded and path.is_file():
            before = json.loads(path.read_text())
        else:  # a summary from before settings were recorded: what its columns say
            before = {"kernel_size": int(row["kernel_size"]), "model.optimization.steps": int(row["steps"])}
            now = {key: now[key] for key in before}
        return setting_differences(before, now)

    def check_output_folder(self, datamodule: SelfDeblurDataModule) -> None:
        """Before any work: the output folder is writable and outside every input folder (a rerun would read its
        outputs as inputs). Raises ``ValueError`` naming the folder."""
        root = self._out_dir.expanduser().resolve()
        sources = datamodule.source if isinstance(datamodule.source, list) else [datamodule.source]
        for source in sources:
            if source is None or not Path(source).expanduser().is_dir():
                continue
            folder = Path(source).expanduser().resolve()
            if root == folder or folder in root.parents:
                raise ValueError(
                    f"output.dir '{self._out_dir}' is inside the input folder '{source}': a rerun would read the "
                    "results as blurry images; choose an output folder outside it"
                )
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise ValueError(f"output.dir '{self._out_dir}' is not writable: {err.strerror or err}") from err

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = _datamodule(trainer)
        self.root = Path(self.dir or trainer.default_root_dir)
        self.check_output_folder(datamodule)
        self.rank, self.world_size = trainer.global_rank, trainer.world_size
        self.rows = self.read_summary()
        names = {image.name for image in datamodule.images}
        done = set() if self.overwrite else {n for n in names if self.is_done(n)}
        sizes = {image.name: image.kernel_size for image in datamodule.images}
        changed = {n: self.differences(self.rows[n], pl_module, sizes[n]) for n in sorted(done)}
        changed = {n: d for n, d in changed.items() if d}
        if changed and not self.keep_different:
            first, what = next(iter(changed.items()))
            raise ValueError(
                f"{len(changed)} of the images already solved in '{self.root}' were solved with other settings "
                f"('{first}': {'; '.join(what[:4])}): give --output.overwrite true to solve them again, "
                "--output.keep_different true to keep them, or another --output.dir"
            )
        if done:
            datamodule.skip(done)
            say(trainer, f"{len(done)} of {len(names)} images already solved in '{self.root}': kept and skipped")
        for name in names - done:
            existing = [p for p in DeblurResult.paths(self.root, name).values() if p.is_file()]
            if existing and not self.overwrite:
                rank_zero_warn(f"'{name}': incomplete outputs in '{self.root}' (no summary row) will be replaced")

    # -- writing -----------------------------------------------------------------------------
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        for result in cast("SelfDeblur", pl_module).pop_finished():  # the writer serves SelfDeblur runs only
            self.write(trainer, pl_module, result)

    def write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, result: DeblurResult) -> None:
        image = _datamodule(trainer).image(result.name)
        if result.failed:
            for path in DeblurResult.paths(self._out_dir, result.name).values():
                path.unlink(missing_ok=True)  # an earlier result of this image is not this run's
        else:
            result.save(self._out_dir)
        row: dict[str, Any] = {
            "name": result.name,
            "source": image.source,
            "kernel_size": image.kernel_size,
            "steps": result.steps,
            "final_loss": f"{result.final_loss:.6g}",
            "seconds": f"{result.seconds:.2f}",
            "group_size": result.group_size,
            "device": str(pl_module.device),
            "rank": trainer.global_rank,
            "psnr_db": "",
            "psnr_shift": "",
            "blurry_psnr_db": "",
            "kernel_distance": "",
            "status": result.status,
            "settings": self.settings_id(pl_module, image.kernel_size),
        }
        report = f"{result.name}: {result.steps} steps, loss {result.final_loss:.4g}, {result.seconds:.1f} s"
        if result.status != "ok":
            report += f", {result.status}"
        if result.note:
            report += f", {result.note}"
        if result.failed:
            self.failed.append(f"{result.name} ({result.status.removeprefix('failed: ')})")
        sharp = None if result.failed else image.load_sharp()
        if sharp is not None:
            estimate, blurry = result.image, image.load()
            color = image.score_color
            if color is None:
                color = "rgb" if sharp.shape[0] == estimate.shape[0] == blurry.shape[0] else "y"
            estimate, blurry, sharp = (to_luma(t[None], color)[0] for t in (estimate, blurry, sharp))
            psnr, shift = aligned_psnr(estimate, sharp, self.max_shift)
            blurry_psnr = aligned_psnr(blurry, sharp, self.max_shift)[0]
            row["psnr_db"], row["psnr_shift"] = f"{psnr:.3f}", f"{shift[0]} {shift[1]}"
            row["blurry_psnr_db"] = f"{blurry_psnr:.3f}"
            report += (
                f", PSNR {psnr:.2f} dB (blurry input {blurry_psnr:.2f} dB; best integer shift within {self.max_shift})"
            )
        true_kernel = None if result.failed else image.load_true_kernel()
        if true_kernel is not None:
            distance = kernel_distance(result.kernel, true_kernel, self.max_shift)
            row["kernel_distance"] = f"{distance:.5f}"
            report += f", kernel L2 distance {distance:.4f}"
        self.rows[result.name] = row
        self.write_summary(_datamodule(trainer))
        self.written += 1
        say(trainer, report)

    def write_summary(self, datamodule: SelfDeblurDataModule, path: Path | None = None) -> Path:
        order = {image.name: i for i, image in enumerate(datamodule.all_images)}
        rows = sorted(self.rows.values(), key=lambda r: (order.get(r["name"], math.inf), r["name"]))
        return atomic_write_csv(path or self.summary_path, rows, SUMMARY_FIELDS)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.world_size > 1:
            trainer.strategy.barrier("selfdeblur summaries")  # every rank has written its own
            if self.rank == 0:
                shards = sorted(self._out_dir.glob("summary.rank*.csv"))
                self.rows = self.read_summary()
                self.write_summary(_datamodule(trainer), self._out_dir / "summary.csv")
                for shard in shards:
                    shard.unlink()
            trainer.strategy.barrier("selfdeblur summary merged")
        if self.written:
            say(trainer, f"wrote {self.written} image(s) to '{self.root}' (table: '{self._out_dir / 'summary.csv'}')")
        if self.failed:
            raise FloatingPointError(
                f"{len(self.failed)} image(s) failed, the others were written: {'; '.join(self.failed[:3])}"
                + (" ..." if len(self.failed) > 3 else "")
                + f" (summary: '{self._out_dir / 'summary.csv'}'; a rerun solves them again)"
            )


def _settings(pl_module: pl.LightningModule, kernel_size: int) -> dict[str, Any]:
    """The flat record (:mod:`selfdeblur.settings_record`) of what a result of ``pl_module`` depends on."""
    return flat_settings(cast("SelfDeblur", pl_module).settings(), kernel_size)


def _datamodule(trainer: pl.Trainer) -> SelfDeblurDataModule:
    # Lightning sets trainer.datamodule at run time without declaring it on the Trainer class.
    datamodule = trainer.datamodule  # type: ignore[attr-defined]
    if not isinstance(datamodule, SelfDeblurDataModule):
        raise TypeError("ResultWriter needs a SelfDeblurDataModule")
    return datamodule
