"""Finding the images to solve: any files and folders, Levin et al.'s and Lai et al.'s benchmark layouts,
and the kernel size of each image (the benchmark tables, ``<stem>.json`` sidecars, options)."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from deblur_core.image_io import IMAGE_EXTENSIONS, find_images
from selfdeblur.data.images import BlurryImage

# Kernel sizes the SelfDeblur authors use for Levin et al.'s kernels 1-8 (selfdeblur_levin.py).
# They are 2 px smaller than the ground-truth kernel files (19, 17, 15, 27, 13, 21, 23, 23),
# except kernel 4.
LEVIN_KERNEL_SIZES = {1: 17, 2: 15, 3: 13, 4: 27, 5: 11, 6: 19, 7: 21, 8: 21}
_LEVIN_NAME = re.compile(r"^im(\d+)_kernel(\d+)_img$")
# Lai et al. (CVPR 2016) uniform set: kernel sizes the SelfDeblur authors use for kernel_01..04 (selfdeblur_lai.py).
LAI_KERNEL_SIZES = {1: 31, 2: 51, 3: 55, 4: 75}
LAI_CATEGORIES = ("manmade", "natural", "people", "saturated", "text")
_LAI_NAME = re.compile(r"^(" + "|".join(LAI_CATEGORIES) + r")_(\d+)_kernel_(\d+)$")


def discover_files(images: str | Sequence[str], recursive: bool = False) -> list[tuple[str, Path]]:
    """``(name, path)`` of every image in ``images`` (a folder, a file, or a list of either).

    Folders give their image files (:func:`deblur_core.image_io.find_images`: hidden files and other
    suffixes left out). Names are paths relative to their folder without the suffix (file stems for
    single files); they name the outputs, so two inputs with the same name are an error.
    """
    entries = [images] if isinstance(images, str) else list(images)
    if not entries:
        raise ValueError("data.images is empty: give a folder, an image file, or a list of them")
    found: list[tuple[str, Path]] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if path.is_dir():
            files = find_images(path, recursive)
            if not files:
                raise ValueError(f"data.images: no images ({', '.join(IMAGE_EXTENSIONS)}) in folder '{path}'")
            found += [(PurePosixPath(relative).with_suffix("").as_posix(), f) for relative, f in files.items()]
        elif path.is_file():
            found.append((path.stem, path))
        else:
            raise FileNotFoundError(f"data.images: no such file or folder: '{path}'")
    seen: dict[str, Path] = {}
    for name, path in found:
        if name in seen:
            raise ValueError(f"data.images: '{seen[name]}' and '{path}' would both be written as '{name}'")
        seen[name] = path
    return found


def _benchmark_image(
    blurry: Path, kernel_size: int, sharp: Path, kernel: Path, origin: str, score_color: str | None = None
) -> BlurryImage:
    """A benchmark image named by its file stem; the ground truth and kernel where their files exist."""
    return BlurryImage(
        name=blurry.stem,
        kernel_size=kernel_size,
        blurry=blurry,
        sharp=sharp if sharp.is_file() else None,
        true_kernel=kernel if kernel.is_file() else None,
        kernel_size_origin=origin,
        score_color=score_color,
    )


def discover_levin(root: str | Path) -> list[BlurryImage]:
    """The Levin et al. benchmark as the SelfDeblur authors ship it.

    ``root/imI_kernelK_img.png`` blurry, ``root/gt/imI.png`` sharp, ``root/gt/kernelK.png`` kernel
    (scaled to max 255; divided by its sum here), kernel sizes from :data:`LEVIN_KERNEL_SIZES`.
    The kernel files are not all stored in one orientation; :meth:`SelfDeblurDataModule.setup`
    orients each (see :func:`orient_true_kernel`).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data.images: Levin folder not found: '{root}'")
    images = []
    for path in sorted(root.glob("*.png")):
        match = _LEVIN_NAME.match(path.stem)
        if match is None:
            continue
        i, k = int(match.group(1)), int(match.group(2))
        if k not in LEVIN_KERNEL_SIZES:
            raise ValueError(f"'{path}': Levin kernels are numbered 1-8, got kernel{k}")
        sharp, kernel = root / "gt" / f"im{i}.png", root / "gt" / f"kernel{k}.png"
        images.append(_benchmark_image(path, LEVIN_KERNEL_SIZES[k], sharp, kernel, "Levin table"))
    if not images:
        raise ValueError(f"data.images: no Levin images (imI_kernelK_img.png) in '{root}'")
    return images


def discover_lai(root: str | Path) -> list[BlurryImage]:
    """Lai et al.'s uniform-blur benchmark: the SelfDeblur authors' layout, or the release's.

    ``root/uniform_ycbcr/CATEGORY_NN_kernel_KK.png``: blurry images (the Y channel of Lai et al.'s
    ``uniform`` images, as the SelfDeblur authors prepare them; 5 categories x 5 images x 4 kernels), or, where
    that folder is absent, the release's colour images ``root/uniform/CATEGORY_NN_kernel_KK.png`` (what
    ``deblur-datasets`` describes; SelfDeblur solves their luminance). ``root/ground_truth/CATEGORY_NN.png``:
    sharp colour images (scored on their Y channel), kernel sizes from :data:`LAI_KERNEL_SIZES`;
    ``root/kernel/kernel_KK.png`` is used where present.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"data.images: Lai folder not found: '{root}' (`deblur-datasets where lai` says how to get it)"
        )
    blurry_dir = next((root / d for d in ("uniform_ycbcr", "uniform") if (root / d).is_dir()), None)
    if blurry_dir is None:
        raise FileNotFoundError(f"data.images: Lai folder without 'uniform_ycbcr/' or 'uniform/': '{root}'")
    images = []
    for path in sorted(blurry_dir.glob("*.png")):
        match = _LAI_NAME.match(path.stem)
        if match is None:
            continue
        category, index, k = match.group(1), int(match.group(2)), int(match.group(3))
        if k not in LAI_KERNEL_SIZES:
            raise ValueError(f"'{path}': Lai kernels are numbered 01-04, got kernel_{match.group(3)}")
        sharp, kernel = root / "ground_truth" / f"{category}_{index:02d}.png", root / "kernel" / f"kernel_{k:02d}.png"
        # Scored on the Y channel as the authors' statistic_lai.m and `selfdeblur evaluate --dataset lai`.
        images.append(_benchmark_image(path, LAI_KERNEL_SIZES[k], sharp, kernel, "Lai table", score_color="y"))
    if not images:
        raise ValueError(f"data.images: no Lai images (CATEGORY_NN_kernel_KK.png) in '{blurry_dir}'")
    return images


def select_by_name(images: Sequence[BlurryImage], patterns: Sequence[str]) -> tuple[list[BlurryImage], list[str]]:
    """The images whose name matches one of the shell-style ``patterns`` (``fnmatch``, case-sensitive), in their
    order, and the patterns that match none of them."""
    selected = [i for i in images if any(fnmatch.fnmatchcase(i.name, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(i.name, p) for i in images)]
    return selected, unmatched


def names_example(images: Sequence[BlurryImage]) -> str:
    """For a message about names that matched nothing: `` (its names look like 'NAME')``, or ``""`` for no images."""
    return f" (its names look like '{images[0].name}')" if images else ""


def sidecar_kernel_size(path: Path) -> int | None:
    """Kernel size from ``<stem>.json`` beside the image (``{"kernel_size": 31}``), if present."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        value = json.loads(sidecar.read_text())["kernel_size"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"sidecar '{sidecar}' must hold {{\"kernel_size\": <odd int>}}: {err}") from err
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"sidecar '{sidecar}': kernel_size must be an integer, got {value!r}")
    return value


def validate_kernel_size(kernel_size: int, height: int, width: int, where: str) -> None:
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"{where}: kernel size must be odd and >= 3, got {kernel_size}")
    if kernel_size >= min(height, width):
        raise ValueError(f"{where}: kernel size {kernel_size} must be smaller than the image ({height}x{width})")
