"""Callbacks of ``reblur`` training: validation image panels, random states kept in checkpoints, and checkpoints
saved by time or iterations between validations."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from deblur_core.image_logging import log_images
from deblur_core.save_schedule import SaveSchedule


def image_panel(images: list[torch.Tensor]) -> torch.Tensor:
    """Side-by-side ``(C, H, sum W)`` panel of ``(C, H, W)`` images, clamped to [0, 1]."""
    return torch.cat([image.detach().float().clamp(0, 1).cpu() for image in images], dim=-1)


class ValidationPanels(Callback):
    """Log ``blurry | deblurred | reblurred | sharp`` panels of the first ``num_images`` validation images.

    The reblurred column (:math:`M_R(M_D(B))`) is there when the model has a reblurring module.
    W&B and TensorBoard loggers receive images (key ``val_panels/<image name>``); loggers with only a
    ``log_dir`` (the default CSV logger) get PNG files in ``log_dir/snapshots``. Only the global
    rank 0 logs, from its own share of the validation set. ``0`` turns panels off.
    """

    def __init__(self, num_images: int = 4) -> None:
        if num_images < 0:
            raise ValueError(f"panels.num_images must be >= 0, got {num_images}")
        self.num_images = num_images
        self._logged = 0

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._logged = 0

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if (
            trainer.sanity_checking
            or not trainer.is_global_zero
            or not trainer.loggers
            or not isinstance(outputs, dict)
        ):
            return
        columns = [key for key in ("blurry", "deblurred", "reblurred", "sharp") if key in outputs]
        names = outputs.get("name") or [f"image{batch_idx}_{i}" for i in range(outputs["blurry"].shape[0])]
        for i, name in enumerate(names):
            if self._logged >= self.num_images:
                return
            panel = image_panel([outputs[key][i] for key in columns])
            key = "val_panels/" + re.sub(r"[^A-Za-z0-9._-]+", "_", str(name))
            for logger in trainer.loggers:
                log_images(logger, key, trainer.global_step, {"-".join(columns): panel}, trainer.global_step)
            self._logged += 1


class RandomStateCheckpoint(Callback):
    """Keep the Python, NumPy and torch (CPU and CUDA) random states in checkpoints.

    Lightning restores weights, optimizers, schedulers and loop counters, but not random states; with
    them, a run resumed from an end-of-epoch checkpoint draws the same shuffles and crops as the run
    that was never stopped (exactly so on one device with ``num_workers=0`` or non-persistent
    workers, whose seeds come from the main process's torch state).
    """

    def state_dict(self) -> dict[str, Any]:
        # Plain tuples and tensors only, so that checkpoints load with ``weights_only=True``.
        legacy_state = np.random.get_state()
        assert isinstance(legacy_state, tuple)  # the legacy global RandomState: always MT19937's tuple
        name, keys, pos, has_gauss, cached = legacy_state
        numpy_state = (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))
        state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(state_dict["python"])
        name, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            cuda_states = state_dict["cuda"]
            if len(cuda_states) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda_states)


class IntervalCheckpoint(Callback):
    """Save ``last.ckpt`` every ``every_n_iterations`` training batches and/or every ``every_minutes`` minutes.

    The run's :class:`~pytorch_lightning.callbacks.ModelCheckpoint` saves only after validation; this callback
    keeps a killed run from losing more than the interval (``--ckpt_path last`` resumes from the newest
    ``last*.ckpt``), and saves the final state when fitting ends, also when it stops between validations. It
    writes into that ModelCheckpoint's folder, first to a temporary name and then renames, so a kill while
    writing leaves the previous ``last.ckpt`` whole. An *iteration* is a training batch (the unit of
    ``trainer.max_steps`` in :class:`~reblur.lightning_module.ReblurTraining`). A run stopped by SIGTERM saves at
    once. In a distributed run rank 0's
    clock decides, and every rank takes part in the save.

    Args:
        every_n_iterations: save after every this many iterations (``None``: not by count).
        every_minutes: save when this many minutes passed since the last save or the start (``None``: not by time).
    """

    def __init__(self, every_n_iterations: int | None = None, every_minutes: float | None = 10.0) -> None:
        self.schedule = SaveSchedule(every_n_iterations, every_minutes, "every_n_iterations", "every_minutes")
        self._batches = 0
        self._saved_step = -1

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.schedule.restart()
        self._batches = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._batches += 1
        if not self.schedule.active:
            return
        if trainer.strategy.broadcast(self.schedule.due(self._batches), src=0):
            self._save(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Fitting can stop at max_steps between validations, where the ModelCheckpoint does not save; when it
        # (or this callback) already saved at the final step, last.ckpt is current.
        if trainer.global_step != self._saved_step and not self._model_checkpoint_saved_last(trainer):
            self._save(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # SIGTERM (kill, a cluster's pre-emption) stops the run between iterations, where the state is whole.
        if isinstance(exception, SIGTERMException) and trainer.global_step != self._saved_step:
            self._save(trainer)

    def _model_checkpoint_saved_last(self, trainer: pl.Trainer) -> bool:
        callback = trainer.checkpoint_callback
        return (
            isinstance(callback, ModelCheckpoint)
            and getattr(callback, "_last_global_step_saved", -1) == trainer.global_step
            and bool(callback.last_model_path)
            and Path(callback.last_model_path) == self.target(trainer)
        )

    def target(self, trainer: pl.Trainer) -> Path:
        """``last.ckpt`` in :meth:`folder`."""
        return self.folder(trainer) / f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}{ModelCheckpoint.FILE_EXTENSION}"

    def _save(self, trainer: pl.Trainer) -> None:
        folder = self.folder(trainer)
        # Not named "last...": Lightning's `--ckpt_path last` takes any file with "last" in its name.
        temporary = folder / f".interval-{os.getpid()}.ckpt.tmp"
        trainer.save_checkpoint(temporary)
        if trainer.is_global_zero:
            os.replace(temporary, self.target(trainer))
        if isinstance(trainer.checkpoint_callback, ModelCheckpoint):
            # Otherwise the ModelCheckpoint, finding a last.ckpt it did not write, saves its own as last-v1.ckpt.
            trainer.checkpoint_callback.last_model_path = str(self.target(trainer))
        trainer.strategy.barrier("interval_checkpoint")
        self.schedule.saved()
        self._saved_step = trainer.global_step

    @staticmethod
    def folder(trainer: pl.Trainer) -> Path:
        """The folder of the run's ModelCheckpoint (``<default_root_dir>/checkpoints`` without one)."""
        callback = trainer.checkpoint_callback
        dirpath = getattr(callback, "dirpath", None)
        folder = Path(dirpath) if dirpath else Path(trainer.default_root_dir) / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
