"""Blur kernels on disk: a viewable PNG (scaled to a maximum of 255) and the raw values (``.npy``).

Kernels are ``(k, k)`` float tensors, non-negative, summing to 1; which orientation they are stored in
is the caller's convention (SelfDeblur writes convolution orientation, see :mod:`deblur_core.blur`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from deblur_core.files import atomic_write
from deblur_core.image_io import ImageReadError, read_image, save_image


def kernel_to_image(kernel: torch.Tensor) -> torch.Tensor:
    """Scale a ``(k, k)`` kernel to a maximum of 1 for viewing, as ``(1, k, k)``."""
    kernel = kernel.detach().float().cpu()
    peak = kernel.max()
    return (kernel / peak if peak > 0 else kernel).unsqueeze(0)


def save_kernel(png_path: str | os.PathLike, npy_path: str | os.PathLike, kernel: torch.Tensor) -> None:
    """Save a kernel as a viewable PNG (scaled to max 255) and as raw float32 values (.npy)."""
    raw = kernel.detach().float().cpu().numpy().astype(np.float32)

    def write_npy(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.save(f, raw)

    atomic_write(npy_path, write_npy)
    save_image(png_path, kernel_to_image(kernel))


def read_kernel(path: str | os.PathLike) -> torch.Tensor:
    """Read a kernel from ``.npy`` (raw values) or an image (any scale; grayscale, or RGB with three equal channels
    as Lai et al.'s); returns ``(k, k)`` summing to 1."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise FileNotFoundError(f"kernel file not found: '{path}'")
        try:
            kernel = torch.from_numpy(np.load(path).astype(np.float32))
        except (OSError, ValueError) as err:
            raise ImageReadError(f"cannot read kernel '{path}': {err}") from err
    else:
        kernel = read_image(path)
        # Lai et al.'s release stores its kernels as RGB images with three equal channels.
        if kernel.shape[0] == 3 and torch.equal(kernel[0], kernel[1]) and torch.equal(kernel[0], kernel[2]):
            kernel = kernel[:1]
        if kernel.shape[0] != 1:
            raise ImageReadError(
                f"kernel image '{path}' must be grayscale (or RGB with equal channels), got {kernel.shape[0]} "
                "channels that differ"
            )
        kernel = kernel[0]
    total = kernel.sum()
    if kernel.ndim != 2 or not torch.isfinite(total) or total <= 0 or (kernel < 0).any():
        raise ImageReadError(f"kernel '{path}' must be a 2-D non-negative array with a positive sum")
    return kernel / total
