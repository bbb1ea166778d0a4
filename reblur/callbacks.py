"""Callbacks of ``reblur`` training: validation image panels, and random states kept in checkpoints."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from deblur_core.image_logging import log_images


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
