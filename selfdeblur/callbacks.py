"""Callbacks of a SelfDeblur run: writing results (and resuming), logging snapshots, the progress bar."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, TQDMProgressBar
from pytorch_lightning.utilities import rank_zero_warn
from tqdm import tqdm

from selfdeblur.color import split_luminance
from selfdeblur.data import GroupBatch, SelfDeblurDataModule
from selfdeblur.image_io import atomic_write_csv, kernel_to_image, save_image, to_uint8
from selfdeblur.metrics import aligned_psnr, kernel_distance
from selfdeblur.result import DeblurResult

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
)


def _say(trainer: pl.Trainer, message: str) -> None:
    bar = trainer.progress_bar_callback
    if isinstance(bar, TQDMProgressBar) and bar.is_enabled:
        # tqdm.write keeps open bars intact; bar.print would drop the message once the bars are closed
        # (at the end of training, when the closing report is made).
        tqdm.write(message)
    else:
        print(message)


class ResultWriter(Callback):
    """Writes every solved image and keeps a summary table; skips images already solved.

    For an image ``NAME`` it writes, under ``dir``, ``NAME_deblurred.png``, ``NAME_kernel.png``
    (convolution orientation, scaled to max 255) and ``NAME_kernel.npy`` (raw, sums to 1), then
    adds its row to ``summary.csv`` (steps, final loss, seconds, and, when the truth is known,
    the PSNR and kernel distance after the best integer shift within ``max_shift``). Each file is
    written under a temporary name and renamed, and the summary row comes last, so an image is
    *done* exactly when its row exists and its files are present.

    When a run starts, images that are done are skipped (and kept), unless ``overwrite`` is set.

    Args:
        dir: output folder (``None``: the trainer's ``default_root_dir``).
        overwrite: solve and rewrite images that are already done.
        max_shift: shift range of the comparison with the ground truth.
    """

    def __init__(self, dir: str | None = "results/selfdeblur", overwrite: bool = False, max_shift: int = 5) -> None:
        self.dir = dir
        self.overwrite = overwrite
        self.max_shift = max_shift
        self.root = Path(dir) if dir else None
        self.rows: dict[str, dict[str, Any]] = {}
        self.written = 0
        self.rank, self.world_size = 0, 1

    # -- resume ------------------------------------------------------------------------------
    @property
    def summary_path(self) -> Path:
        """``summary.csv``; on several processes each writes its own ``summary.rankR.csv``, merged at the end."""
        return self.root / ("summary.csv" if self.world_size == 1 else f"summary.rank{self.rank}.csv")

    def read_summary(self) -> dict[str, dict[str, Any]]:
        """Rows of ``summary.csv`` and of any per-rank summaries (left by a multi-process run that was stopped)."""
        rows: dict[str, dict[str, Any]] = {}
        for path in [self.root / "summary.csv", *sorted(self.root.glob("summary.rank*.csv"))]:
            if not path.is_file():
                continue
            try:
                with path.open(newline="") as f:
                    rows.update({row["name"]: row for row in csv.DictReader(f)})
            except (OSError, csv.Error, KeyError) as err:
                raise ValueError(f"cannot read the summary of earlier results '{path}': {err}") from err
        return rows

    def is_done(self, name: str) -> bool:
        return name in self.rows and all(p.is_file() for p in DeblurResult.paths(self.root, name).values())

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        if not isinstance(datamodule, SelfDeblurDataModule):
            raise TypeError("ResultWriter needs a SelfDeblurDataModule")
        self.root = Path(self.dir or trainer.default_root_dir)
        self.rank, self.world_size = trainer.global_rank, trainer.world_size
        self.rows = self.read_summary()
        names = {image.name for image in datamodule.images}
        done = set() if self.overwrite else {n for n in names if self.is_done(n)}
        if done:
            datamodule.skip(done)
            _say(trainer, f"{len(done)} of {len(names)} images already solved in '{self.root}': kept and skipped")
        for name in names - done:
            existing = [p for p in DeblurResult.paths(self.root, name).values() if p.is_file()]
            if existing and not self.overwrite:
                rank_zero_warn(f"'{name}': incomplete outputs in '{self.root}' (no summary row) will be replaced")

    # -- writing -----------------------------------------------------------------------------
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        for result in pl_module.pop_finished():
            self.write(trainer, pl_module, result)

    def write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, result: DeblurResult) -> None:
        result.save(self.root)
        image = trainer.datamodule.image(result.name)
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
        }
        report = f"{result.name}: {result.steps} steps, loss {result.final_loss:.4g}, {result.seconds:.1f} s"
        sharp = image.load_sharp()
        if sharp is not None:
            estimate, blurry = result.image, image.load()
            if not sharp.shape[0] == estimate.shape[0] == blurry.shape[0]:  # compare luminance
                estimate, blurry, sharp = (split_luminance(t)[0] for t in (estimate, blurry, sharp))
            psnr, shift = aligned_psnr(estimate, sharp, self.max_shift)
            blurry_psnr = aligned_psnr(blurry, sharp, self.max_shift)[0]
            row["psnr_db"], row["psnr_shift"] = f"{psnr:.3f}", f"{shift[0]} {shift[1]}"
            row["blurry_psnr_db"] = f"{blurry_psnr:.3f}"
            report += (
                f", PSNR {psnr:.2f} dB (blurry input {blurry_psnr:.2f} dB; best integer shift within {self.max_shift})"
            )
        true_kernel = image.load_true_kernel()
        if true_kernel is not None:
            distance = kernel_distance(result.kernel, true_kernel, self.max_shift)
            row["kernel_distance"] = f"{distance:.5f}"
            report += f", kernel L2 distance {distance:.4f}"
        self.rows[result.name] = row
        self.write_summary(trainer.datamodule)
        self.written += 1
        _say(trainer, report)

    def write_summary(self, datamodule: SelfDeblurDataModule, path: Path | None = None) -> Path:
        order = {image.name: i for i, image in enumerate(datamodule.all_images)}
        rows = sorted(self.rows.values(), key=lambda r: (order.get(r["name"], math.inf), r["name"]))
        return atomic_write_csv(path or self.summary_path, rows, SUMMARY_FIELDS)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.world_size > 1:
            trainer.strategy.barrier("selfdeblur summaries")  # every rank has written its own
            if self.rank == 0:
                shards = sorted(self.root.glob("summary.rank*.csv"))
                self.rows = self.read_summary()
                self.write_summary(trainer.datamodule, self.root / "summary.csv")
                for shard in shards:
                    shard.unlink()
            trainer.strategy.barrier("selfdeblur summary merged")
        if self.written:
            _say(trainer, f"wrote {self.written} image(s) to '{self.root}' (table: '{self.root / 'summary.csv'}')")


class LatentSnapshots(Callback):
    """Every ``every_n_steps`` steps, log the current latent image and kernel of each image.

    W&B and TensorBoard loggers receive images; loggers with a ``log_dir`` and no image API
    (e.g. the CSV logger) get PNG files in ``log_dir/snapshots``. ``0`` turns snapshots off.
    """

    def __init__(self, every_n_steps: int = 500) -> None:
        if every_n_steps < 0:
            raise ValueError(f"snapshots.every_n_steps must be >= 0, got {every_n_steps}")
        self.every_n_steps = every_n_steps

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: GroupBatch, batch_idx: int
    ) -> None:
        n = batch.step + 1
        if batch.idle or not self.every_n_steps or not trainer.loggers:
            return
        if n % self.every_n_steps and n != pl_module.steps:
            return
        for name, image, kernel in pl_module.snapshot():
            images = {"latent": image.cpu(), "kernel": kernel_to_image(kernel)}
            for logger in trainer.loggers:
                log_images(logger, name, n, images, trainer.global_step)


def log_images(logger: Any, name: str, step: int, images: dict[str, torch.Tensor], global_step: int) -> None:
    """Send ``(C, H, W)`` [0, 1] images to a Lightning logger in the way it supports."""
    from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

    if isinstance(logger, WandbLogger):
        keys = [f"{name}/{kind}" for kind in images]
        for key, image in zip(keys, images.values()):
            logger.log_image(key=key, images=[to_uint8(image)], caption=[f"step {step}"])
    elif isinstance(logger, TensorBoardLogger):
        for kind, image in images.items():
            logger.experiment.add_image(f"{name}/{kind}", image, global_step)
    elif getattr(logger, "log_dir", None):
        folder = Path(logger.log_dir) / "snapshots"
        for kind, image in images.items():
            save_image(folder / f"{name}_step{step:06d}_{kind}.png", image)


class SelfDeblurProgressBar(TQDMProgressBar):
    """A progress bar per group of images: ``image i/N NAME`` and the step within the image."""

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the logger's version says nothing about the image being solved
        return metrics

    def __init__(self, refresh_rate: int = 1) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self._group: int | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self._group = None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: GroupBatch, batch_idx: int
    ) -> None:
        bar = self.train_progress_bar
        if bar is None or bar.disable:
            return
        if batch.idle:
            bar.set_description("done; waiting for the other processes")
            return
        if batch.group != self._group:
            self._group = batch.group
            first, last = batch.first_image, batch.first_image + len(batch.names) - 1
            label = f"image {first}" if first == last else f"images {first}-{last}"
            label += f"/{batch.total_images}"
            bar.reset(total=pl_module.steps)
            bar.set_description(f"{label} {', '.join(batch.names)}")
        n = batch.step + 1
        if self._should_update(n, bar.total):
            bar.n = n
            bar.set_postfix(self.get_metrics(trainer, pl_module))
            bar.refresh()
