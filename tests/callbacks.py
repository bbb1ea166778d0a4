"""Callbacks that tests name by class path on the command line (``--trainer.callbacks+=tests.callbacks.X``)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback


class AllocateTooMuch(Callback):
    """Asks the CPU allocator for 4 EiB when training starts: a real out-of-memory failure of torch."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        torch.empty(2**62, dtype=torch.uint8)


class ExitAtStep(Callback):
    """Ends the process abruptly (``os._exit``, no clean-up: as a kill would) after optimisation step ``step`` of
    the first image group."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, *args) -> None:
        if batch.group == 0 and batch.step == self.step:
            import os

            os._exit(137)


class TerminateAfterBatches(Callback):
    """Sends this process SIGTERM (as ``kill`` or a cluster's pre-emption would) after ``batches`` training batches:
    SelfDeblur's optimisation steps, reblur's iterations."""

    def __init__(self, batches: int) -> None:
        self.batches = batches
        self.seen = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args) -> None:
        self.seen += 1
        if self.seen == self.batches:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGTERM)
