"""SelfDeblur's progress bar (``image i/N NAME`` and the step within the image), and printing around it."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from tqdm import tqdm

from selfdeblur.data import GroupBatch


def say(trainer: pl.Trainer, message: str) -> None:
    bar = trainer.progress_bar_callback
    if isinstance(bar, TQDMProgressBar) and bar.is_enabled:
        # tqdm.write keeps open bars intact; bar.print would drop the message once the bars are closed
        # (at the end of training, when the closing report is made).
        tqdm.write(message)
    else:
        print(message)


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
