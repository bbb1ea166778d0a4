"""Sending images to Lightning loggers, each in the way it supports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from deblur_core.image_io import save_image, to_uint8


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
