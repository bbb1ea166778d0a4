"""Logging the latent image and kernel of each image as the optimisation goes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from deblur_core.image_logging import log_images
from selfdeblur.data import GroupBatch
from selfdeblur.kernel_io import kernel_to_image

if TYPE_CHECKING:
    from selfdeblur.lightning_module import SelfDeblur


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
        model = cast("SelfDeblur", pl_module)  # Lightning types the module loosely; this callback serves SelfDeblur
        n = batch.step + 1
        if batch.idle or not self.every_n_steps or not trainer.loggers:
            return
        if n % self.every_n_steps and n != model.steps:
            return
        for name, image, kernel in model.snapshot():
            images = {"latent": image.cpu(), "kernel": kernel_to_image(kernel)}
            for logger in trainer.loggers:
                log_images(logger, name, n, images, trainer.global_step)
