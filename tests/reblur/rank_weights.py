"""Test helper for the DDP test: a callback that saves each rank's weights when training ends."""

from __future__ import annotations

from pathlib import Path

import torch
from pytorch_lightning.callbacks import Callback


class SaveRankWeights(Callback):
    """Writes ``<folder>/rank<R>_start.pt`` and ``rank<R>_end.pt`` with the LightningModule's state dict."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def _save(self, trainer, pl_module, when: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(
            {"state": state, "seen": getattr(self, "seen", [])}, self.folder / f"rank{trainer.global_rank}_{when}.pt"
        )

    def on_train_start(self, trainer, pl_module) -> None:
        self.seen = []
        self._save(trainer, pl_module, "start")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.extend(batch["name"])

    def on_train_end(self, trainer, pl_module) -> None:
        self._save(trainer, pl_module, "end")
