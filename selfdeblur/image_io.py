"""Reading and writing images and kernels, with errors that name the file and atomic writes.

Images are ``(C, H, W)`` float32 tensors in [0, 1] with C = 1 (grayscale) or 3 (RGB). Files are
written to a temporary name and renamed into place, so an interrupted run never leaves a
half-written file under a final name.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageReadError(ValueError):
    """An image file exists but cannot be decoded."""


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """Decode an image file into a ``(C, H, W)`` float32 tensor in [0, 1].

    Grayscale files (8- or 16-bit) give C = 1; everything else is converted to RGB (C = 3), alpha
    dropped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageReadError: the file is not a readable image (truncated, corrupt, not an image).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: '{path}'")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("L", "LA", "1", "P") and _is_gray_palette(im):
                array = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
            elif im.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(im, dtype=np.float32) / 65535.0
            elif im.mode == "F":
                array = np.asarray(im, dtype=np.float32)
            else:
                array = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"cannot read image '{path}': {err}") from err
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    if not torch.isfinite(tensor).all():
        raise ImageReadError(f"image '{path}' contains NaN or infinite values")
    return tensor.clamp(0, 1).contiguous()


def _is_gray_palette(im: Image.Image) -> bool:
    if im.mode != "P":
        return True
    palette = np.asarray(im.convert("RGB"))
    return bool((palette[..., 0] == palette[..., 1]).all() and (palette[..., 1] == palette[..., 2]).all())


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] -> ``(H, W)`` or ``(H, W, C)`` uint8, rounded to nearest."""
    array = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_csv(path: str | os.PathLike, rows: Iterable[dict], fields: Sequence[str]) -> Path:
    """Write ``rows`` (dicts; keys beyond ``fields`` ignored) as a CSV table with a header, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, lambda tmp: tmp.write_text(buffer.getvalue()))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Lossy formats: quality 95 (JPEG without chroma subsampling) keeps the format's own losses well below
# the changes a deblurring method makes; PIL's default (75) would not.
SAVE_OPTIONS: dict[str, dict[str, object]] = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"quality": 95}}


def save_image(path: str | os.PathLike, image: torch.Tensor) -> Path:
    """Write a ``(C, H, W)`` [0, 1] tensor as an 8-bit image (format from the suffix), atomically.

    PNG, TIFF and BMP are lossless; JPEG and WebP are written with :data:`SAVE_OPTIONS`.
    """
    array = to_uint8(image)
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    options = SAVE_OPTIONS.get(fmt, {})
    return atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format=fmt, **options))


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
    """Read a kernel from ``.npy`` (raw values) or an image (any scale); returns ``(k, k)`` summing to 1."""
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
        if kernel.shape[0] != 1:
            raise ImageReadError(f"kernel image '{path}' must be grayscale, got {kernel.shape[0]} channels")
        kernel = kernel[0]
    total = kernel.sum()
    if kernel.ndim != 2 or not torch.isfinite(total) or total <= 0 or (kernel < 0).any():
        raise ImageReadError(f"kernel '{path}' must be a 2-D non-negative array with a positive sum")
    return kernel / total
