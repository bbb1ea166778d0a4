"""Solve images from Python, without the command line::

    from selfdeblur import Optimization, deblur
    result = deblur("blurry.png", kernel_size=31, optimization=Optimization(steps=2500))
    result.save("out/")  # out/blurry_deblurred.png, out/blurry_kernel.png, out/blurry_kernel.npy

:func:`deblur` builds the DataModule, the module and a :func:`solver_trainer` for one image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import pytorch_lightning as pl

from selfdeblur.callbacks import SelfDeblurProgressBar
from selfdeblur.data import SelfDeblurDataModule, SyntheticBlur
from selfdeblur.host_memory import KeepFreedHostMemory
from selfdeblur.lightning_module import SelfDeblur
from selfdeblur.result import DeblurResult

# Lightning's precision names (its own type for them is private).
TrainerPrecision = Literal["64-true", "32-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed"]


def solver_trainer(
    accelerator: str = "auto",
    precision: TrainerPrecision = "32-true",
    progress: bool = False,
    callbacks: Sequence[pl.Callback] = (),
    keep_host_memory: bool = True,
) -> pl.Trainer:
    """A Trainer for solving images from Python: one device, one pass, no logger, no checkpoints.

    ``keep_host_memory``: on the CPU, keep freed memory in the process for reuse
    (:mod:`selfdeblur.host_memory`; measured in docs/performance.md).
    """
    return pl.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        callbacks=[
            *callbacks,
            KeepFreedHostMemory(keep_host_memory),
            *([SelfDeblurProgressBar()] if progress else []),
        ],
    )


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
        **model_options: arguments of :class:`SelfDeblur`: the option groups ``optimization``,
            ``generators``, ``tv``, ``compute``, ``fast`` (:mod:`selfdeblur.options`) and ``seed``.

    Raises:
        FloatingPointError: the loss became NaN or infinite (the result's ``status`` says at which step). A
            finite but collapsed result is returned with ``status`` ``"collapsed: ..."`` and a warning.
    """
    if isinstance(image, SyntheticBlur):
        data = SelfDeblurDataModule(synthetic=image)
    else:
        data = SelfDeblurDataModule(images=[os.fspath(image)], kernel_size=kernel_size)
    model = SelfDeblur(**model_options)
    solver_trainer(accelerator, progress=progress).fit(model, datamodule=data)
    result = model.finished[0]
    if result.failed:
        raise FloatingPointError(f"SelfDeblur on '{data.images[0].source}': {result.status}")
    return result
