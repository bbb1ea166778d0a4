"""Reading, finding and writing images, with errors that name the file.

Images are ``(C, H, W)`` float32 tensors in [0, 1] with C = 1 (grayscale) or 3 (RGB). Files are
written atomically (:mod:`deblur_core.files`): an interrupted run never leaves a half-written file
under a final name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from deblur_core.files import atomic_write

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
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"image '{path}' is too large to open safely ({err}); downscale or crop it first") from err
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


# Lossy formats: quality 95 (JPEG without chroma subsampling) keeps the format's own losses well below
# the changes a deblurring method makes; PIL's default (75) would not.
SAVE_OPTIONS: dict[str, dict[str, object]] = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"quality": 95}}


def save_image(path: str | os.PathLike, image: torch.Tensor) -> Path:
    """Write a ``(C, H, W)`` [0, 1] tensor as an 8-bit image (format from the suffix), atomically.

    PNG, TIFF and BMP are lossless; JPEG and WebP are written with :data:`SAVE_OPTIONS`.
    """
    array = to_uint8(image)
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    options = SAVE_OPTIONS.get(fmt, {}) if fmt is not None else {}
    return atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format=fmt, **options))


def is_image_file(path: Path) -> bool:
    """A file with an image suffix (:data:`IMAGE_EXTENSIONS`) whose name does not start with a dot."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def find_images(folder: str | os.PathLike, recursive: bool = False) -> dict[str, Path]:
    """Image files in ``folder`` (subfolders too if ``recursive``) keyed by their POSIX path relative to it,
    in sorted order.

    Hidden files (``.DS_Store``, macOS ``._x.png``) and suffixes other than :data:`IMAGE_EXTENSIONS` are
    left out.
    """
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return dict(sorted((p.relative_to(folder).as_posix(), p) for p in found if is_image_file(p)))
