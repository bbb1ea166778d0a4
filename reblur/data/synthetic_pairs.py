"""Synthetic blurry/sharp pairs: sharp images blurred with seeded random camera-shake kernels.

For the demo, the tests, and anyone without GOPRO. Sharp images come from a folder (any image
files, any size) or, by default, from sample images bundled with scikit-image
(:data:`DEFAULT_SKIMAGE_IMAGES`, all available offline).

How one pair is made (``S = image_size``, ``k = kernel_size``, odd)::

    source image ──resize (shorter side = S+k-1), centre crop──> sharp_with_margin  (C, S+k-1, S+k-1)
    sharp_with_margin ──'valid' convolution with kernel + noise──> blurry          (C, S, S)
    sharp_with_margin ──centre crop S x S──────────────────────────> sharp           (C, S, S)

Pixel ``(i, j)`` of ``blurry`` is the kernel-weighted mean of the sharp pixels around pixel
``(i + (k-1)/2, j + (k-1)/2)`` of ``sharp_with_margin``, i.e. around pixel ``(i, j)`` of ``sharp``:
the pair is aligned exactly, and no border of ``blurry`` was made from padding.

Reproducibility and held-out data: everything is a function of ``seed``. Training and validation
use disjoint source images (the last ``val_images`` of the list are held out) and disjoint kernel
seeds: training pair ``t`` (counted over train images, then kernels) uses kernel and noise seed
``2 * (seed * 10**6 + t)`` (even) and validation pair ``v`` uses ``2 * (seed * 10**6 + v) + 1``
(odd); see :func:`kernel_seed`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from deblur_core import motion_blur
from deblur_core.crop import center_crop
from deblur_core.image_io import IMAGE_EXTENSIONS, find_images, read_image
from deblur_core.sample_images import load_skimage
from reblur.data.layouts import PairedDataError
from reblur.data.paired_dataset import TensorPair

# Photographs and micrographs with fine detail, all bundled with scikit-image (no download), at
# least 300 px on the shorter side. The last two are the default held-out validation images.
DEFAULT_SKIMAGE_IMAGES: tuple[str, ...] = (
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "camera",
    "moon",
    "coins",
    "clock",
    "brick",
    "grass",
    "gravel",
    "cell",
    "coffee",
    "chelsea",
)

_PAIRS_PER_SEED = 10**6


@dataclass
class SyntheticPair(TensorPair):
    """A synthetic pair: ``blurry``, ``sharp`` ``(C, S, S)`` in [0, 1] (C = 1 or 3), with its making.

    ``kernel`` is the ``(k, k)`` convolution kernel (sums to 1), ``kernel_seed`` the seed of the
    kernel and of the noise, ``source`` the sharp image's name (scikit-image name or path relative
    to the folder).
    """

    kernel: torch.Tensor
    kernel_seed: int
    source: str


def kernel_seed(seed: int, split: Literal["train", "val"], index: int) -> int:
    """The kernel (and noise) seed of pair ``index`` of ``split``: even for train, odd for val.

    >>> [kernel_seed(0, "train", t) for t in range(3)], [kernel_seed(0, "val", v) for v in range(3)]
    ([0, 2, 4], [1, 3, 5])
    >>> kernel_seed(1, "train", 0)
    2000000
    """
    if seed < 0 or not 0 <= index < _PAIRS_PER_SEED:
        raise ValueError(f"need seed >= 0 and 0 <= pair index < {_PAIRS_PER_SEED}, got {seed} and {index}")
    return 2 * (seed * _PAIRS_PER_SEED + index) + (split == "val")


def fit_square(image: torch.Tensor, side: int) -> torch.Tensor:
    """Resize ``(C, H, W)`` so that its shorter side is ``side``, then centre-crop ``(C, side, side)``.

    Shrinking averages areas (no aliasing); enlarging is bicubic, clamped to [0, 1].

    >>> fit_square(torch.rand(3, 40, 60), 20).shape
    torch.Size([3, 20, 20])
    """
    height, width = image.shape[-2:]
    scale = side / min(height, width)
    if scale != 1:
        size = (max(side, round(height * scale)), max(side, round(width * scale)))
        mode = "area" if scale < 1 else "bicubic"
        image = F.interpolate(image.unsqueeze(0), size=size, mode=mode)[0].clamp(0, 1)
    return center_crop(image, side, side).contiguous()


def synthesize_pair(
    sharp_with_margin: torch.Tensor,
    kernel: torch.Tensor,
    noise_sigma: float = 0.0,
    noise_seed: int = 0,
    name: str = "",
    source: str = "",
) -> SyntheticPair:
    """Blur ``(C, H + k - 1, W + k - 1)`` with a ``(k, k)`` kernel (k odd) into an aligned ``(C, H, W)`` pair.

    ``blurry = motion_blur.blur(sharp_with_margin, kernel, noise_sigma, noise_seed)`` and ``sharp``
    is the centre ``H x W`` of ``sharp_with_margin``, which is where the 'valid' convolution puts
    its output for a centred kernel.
    """
    k = kernel.shape[-1]
    if kernel.ndim != 2 or kernel.shape[0] != k or k % 2 == 0:
        raise ValueError(f"kernel must be square with an odd side (to have a centre pixel), got {tuple(kernel.shape)}")
    blurry = motion_blur.blur(sharp_with_margin, kernel, noise_sigma, noise_seed)
    sharp = center_crop(sharp_with_margin, *blurry.shape[-2:]).contiguous()
    return SyntheticPair(blurry, sharp, name, kernel, noise_seed, source)


def sharp_sources(sharp_dir: str | os.PathLike | None = None, images: Sequence[str] | None = None) -> list[str]:
    """The names of the sharp images: files in ``sharp_dir`` (recursive, relative POSIX paths, sorted)
    or scikit-image names (``images``, default :data:`DEFAULT_SKIMAGE_IMAGES`)."""
    if sharp_dir is not None:
        folder = Path(sharp_dir)
        if not folder.is_dir():
            raise PairedDataError([f"expected a folder of sharp images at '{folder}'"], "synthetic pairs")
        names = list(find_images(folder, recursive=True))
        if not names:
            raise PairedDataError([f"no images ({', '.join(IMAGE_EXTENSIONS)}) in '{folder}'"], "synthetic pairs")
        return names
    names = list(DEFAULT_SKIMAGE_IMAGES if images is None else images)
    if not names:
        raise ValueError("images is empty: name scikit-image samples or give sharp_dir")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"images lists {duplicates} more than once: train and validation would overlap")
    return names


def make_pairs(
    sources: Sequence[str],
    load: Callable[[str], torch.Tensor],
    split: Literal["train", "val"],
    image_size: int = 256,
    kernel_size: int = 31,
    pairs_per_image: int = 4,
    noise_sigma: float = 0.01,
    seed: int = 0,
) -> list[SyntheticPair]:
    """``pairs_per_image`` pairs from each source, ``(C, image_size, image_size)``, named
    ``"<source>/seed<kernel seed>"``; kernel seeds from :func:`kernel_seed` for ``split``.

    Raises:
        PairedDataError: listing every source that could not be loaded.
    """
    if image_size < 1 or pairs_per_image < 1:
        raise ValueError(f"image_size and pairs_per_image must be >= 1, got {image_size} and {pairs_per_image}")
    side = image_size + kernel_size - 1
    pairs: list[SyntheticPair] = []
    problems: list[str] = []
    for i, source in enumerate(sources):
        try:
            sharp = fit_square(load(source), side)
        except (ValueError, FileNotFoundError) as err:
            problems.append(f"{source}: {err}")
            continue
        for j in range(pairs_per_image):
            s = kernel_seed(seed, split, i * pairs_per_image + j)
            kernel = motion_blur.random_motion_kernel(kernel_size, s)
            pairs.append(synthesize_pair(sharp, kernel, noise_sigma, s, f"{source}/seed{s}", source))
    if problems:
        raise PairedDataError(problems, f"synthetic pairs ({split})")
    return pairs


def synthetic_splits(
    sharp_dir: str | os.PathLike | None = None,
    images: Sequence[str] | None = None,
    image_size: int = 256,
    kernel_size: int = 31,
    pairs_per_image: int = 4,
    val_pairs_per_image: int | None = None,
    noise_sigma: float = 0.01,
    val_images: int = 2,
    seed: int = 0,
) -> tuple[list[SyntheticPair], list[SyntheticPair]]:
    """Train and validation pairs from disjoint sharp images and disjoint kernel seeds.

    Args:
        sharp_dir: folder of sharp images (searched recursively); if given, ``images`` is ignored.
        images: scikit-image sample names; default :data:`DEFAULT_SKIMAGE_IMAGES`.
        image_size: side ``S`` of the square pairs.
        kernel_size: side of the random kernels (odd).
        pairs_per_image: kernels per training image.
        val_pairs_per_image: kernels per validation image (default: ``pairs_per_image``).
        noise_sigma: Gaussian noise (on the [0, 1] scale) in the blurry images, seeded per pair.
        val_images: how many images, the last ones of the (sorted) list, are held out for validation.
        seed: the seed all data derives from.

    Returns:
        ``(train_pairs, val_pairs)``.
    """
    sources = sharp_sources(sharp_dir, images)
    if not 1 <= val_images < len(sources):
        raise ValueError(
            f"val_images must be between 1 and {len(sources) - 1} (one fewer than the {len(sources)} sharp images), "
            f"got {val_images}"
        )
    load: Callable[[str], torch.Tensor]
    if sharp_dir is not None:
        folder = Path(sharp_dir)

        def load_file(source: str) -> torch.Tensor:
            return read_image(folder / source)

        load = load_file
    else:
        load = load_skimage
    make = partial(make_pairs, image_size=image_size, kernel_size=kernel_size, noise_sigma=noise_sigma, seed=seed)
    train = make(sources[:-val_images], load, "train", pairs_per_image=pairs_per_image)
    val_per_image = pairs_per_image if val_pairs_per_image is None else val_pairs_per_image
    val = make(sources[-val_images:], load, "val", pairs_per_image=val_per_image)
    return train, val
