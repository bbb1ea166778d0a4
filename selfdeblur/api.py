"""Solve one image from Python::

from selfdeblur import deblur
result = deblur("blurry.png", kernel_size=31)
result.save("out/")  # out/blurry_deblurred.png, out/blurry_kernel.png, out/blurry_kernel.npy
"""

from __future__ import annotations

import os
from typing import Any

import pytorch_lightning as pl

from selfdeblur.callbacks import SelfDeblurProgressBar
from selfdeblur.data import SelfDeblurDataModule, SyntheticBlur
from selfdeblur.module import SelfDeblur
from selfdeblur.result import DeblurResult


def deblur(
    image: str | os.PathLike | SyntheticBlur,
    kernel_size: int = 31,
    progress: bool = True,
    accelerator: str = "auto",
    **model_options: Any,
) -> DeblurResult:
    """Blind-deblur one image with SelfDeblur and return the latent image and kernel.

    Args:
        image: path of the blurry image (grayscale or colour), or a :class:`SyntheticBlur`.
        kernel_size: odd side of the blur kernel to estimate (larger than the blur).
        progress: show a progress bar.
        accelerator: Lightning accelerator (``"auto"`` picks a GPU when there is one).
        **model_options: arguments of :class:`SelfDeblur` (``steps``, ``lr_image``, ...).
    """
    if isinstance(image, SyntheticBlur):
        data = SelfDeblurDataModule(synthetic=image)
    else:
        data = SelfDeblurDataModule(images=[os.fspath(image)], kernel_size=kernel_size)
    model = SelfDeblur(**model_options)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        callbacks=[SelfDeblurProgressBar()] if progress else [],
    )
    trainer.fit(model, datamodule=data)
    return model.finished[0]
