"""What test-time adaptation records per image, and how the records leave a run: means reduced exactly over
processes (sums and counts, not per-process means) and one CSV file per process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from deblur_core.files import atomic_write_csv

COLUMNS = ("loss_before", "loss_after", "seconds")


def global_means(
    records: Sequence[dict[str, Any]], strategy: Any, device: torch.device, stage: str
) -> dict[str, float]:
    """``<stage>/tta_loss_before``, ``<stage>/tta_loss_after`` and ``<stage>/tta_seconds_per_image``: means over
    every process's records (``{}`` when there are none). Every process must call it (a collective reduce)."""
    sums = [sum(record[column] for record in records) for column in COLUMNS]
    totals = torch.tensor([*sums, len(records)], dtype=torch.float64, device=device)
    totals = strategy.reduce(totals, reduce_op="sum")
    count = float(totals[-1])
    if count == 0:
        return {}
    keys = (f"{stage}/tta_loss_before", f"{stage}/tta_loss_after", f"{stage}/tta_seconds_per_image")
    return {key: float(total) / count for key, total in zip(keys, totals[:-1].tolist())}


def write_records(records: Sequence[dict[str, Any]], trainer: pl.Trainer, csv_name: str | None) -> Path | None:
    """The records as ``trainer.log_dir/csv_name`` (``<stem>_rank<r>.csv`` per process when there are several);
    nothing without records, a name or a log folder."""
    if csv_name is None or not records or trainer.log_dir is None:
        return None
    path = Path(trainer.log_dir) / csv_name
    if trainer.world_size > 1:
        path = path.with_name(f"{path.stem}_rank{trainer.global_rank}{path.suffix}")
    return atomic_write_csv(path, records, list(records[0]))
