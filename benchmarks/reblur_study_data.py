"""The data of the reblurring study (benchmarks/reblur_study.py): what it trains, validates and tests on.

All of it comes from ``../shared/data`` (``--data``) and is a function of the seed:

* **training**: every photo of ``sharp/bsds500_test`` (200, 481x321) gives two synthetic pairs, one blurred with
  a random camera-shake kernel (:func:`deblur_core.motion_blur.random_motion_kernel`) and one with two such
  kernels blended across the frame (:func:`deblur_core.motion_blur.spatially_varying_blur`), plus Gaussian
  noise; and the 11 GOPRO-style pairs of GOPRO's *training* sequences (:data:`GOPRO_TRAIN_SEQUENCES`), full
  1280x720 frames, repeated so that about a third of the training crops come from them;
* **validation** (during training): the centre 256x256 of the first :data:`VAL_KODAK` Kodak photos, blurred with
  kernels of odd seeds (training uses even ones);
* **test**: the 7 GOPRO-style pairs of GOPRO's *test* sequences (:data:`GOPRO_TEST_SEQUENCES`, the split GOPRO
  itself uses), full frames; and all 24 Kodak photos (768x512 or 512x768), blurred with held-out kernels
  (seeds training never used), uniform and spatially varying in turn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from deblur_core import motion_blur
from deblur_core.crop import center_crop
from deblur_core.image_io import find_images, read_image
from reblur.data import TensorPair

GOPRO_TRAIN_SEQUENCES = ("GOPR0374_11_00", "GOPR0384_11_02", "GOPR0477_11_00")
GOPRO_TEST_SEQUENCES = ("GOPR0384_11_00", "GOPR0410_11_00")
VAL_KODAK = 6
VAL_SIZE = 256
# Seed offsets: train pairs use even seeds from 0, validation odd seeds, test seeds from TEST_SEED up.
TEST_SEED = 10**6


@dataclass(frozen=True)
class BlurSettings:
    """The synthetic blur: kernel side (odd), Gaussian noise sigma on the [0, 1] scale."""

    kernel_size: int = 9
    noise_sigma: float = 0.003


def _rgb(image: torch.Tensor) -> torch.Tensor:
    return image.expand(3, -1, -1).contiguous() if image.shape[0] == 1 else image


def synthetic_pair(sharp: torch.Tensor, seed: int, varying: bool, blur: BlurSettings, name: str) -> TensorPair:
    """Blur ``sharp`` ``(3, H, W)``: 'valid' blur, so the pair is ``(3, H - k + 1, W - k + 1)`` and aligned."""
    k = blur.kernel_size
    if varying:
        kernels = torch.stack(
            [motion_blur.random_motion_kernel(k, seed), motion_blur.random_motion_kernel(k, seed + 1)]
        )
        angle = (seed * 0.618034 % 1.0) * 2 * math.pi
        blurry = motion_blur.spatially_varying_blur(sharp, kernels, angle, blur.noise_sigma, seed)
    else:
        blurry = motion_blur.blur(sharp, motion_blur.random_motion_kernel(k, seed), blur.noise_sigma, seed)
    target = center_crop(sharp, *blurry.shape[-2:]).contiguous()
    return TensorPair(blurry, target, name)


def _photos(folder: Path) -> list[tuple[str, Path]]:
    found = find_images(folder)
    if not found:
        raise FileNotFoundError(f"no images in {folder}")
    return list(found.items())


def gopro_pairs(data: Path, sequences: tuple[str, ...]) -> list[TensorPair]:
    """The GOPRO-style pairs (``pairs/SEQ_st_frame-F_n_avg-N{,_gt}.png``) of ``sequences``, full frames."""
    folder = data / "gopro_samples" / "pairs"
    pairs = []
    for sharp_path in sorted(folder.glob("*_gt.png")):
        if not sharp_path.name.startswith(sequences):
            continue
        blurry_path = sharp_path.with_name(sharp_path.name.replace("_gt.png", ".png"))
        pairs.append(TensorPair(read_image(blurry_path), read_image(sharp_path), blurry_path.stem))
    if not pairs:
        raise FileNotFoundError(f"no GOPRO-style pairs of {sequences} in {folder}")
    return pairs


def training_pairs(data: Path, blur: BlurSettings, gopro_share: float = 1 / 3) -> list[TensorPair]:
    """Synthetic BSDS500 pairs (uniform and spatially varying, even seeds) and the GOPRO training pairs, the
    latter repeated so that they make about ``gopro_share`` of the list (crops are drawn uniformly over it)."""
    pairs = []
    for i, (name, path) in enumerate(_photos(data / "sharp" / "bsds500_test")):
        sharp = _rgb(read_image(path))
        for j, varying in enumerate((False, True)):
            seed = 4 * (2 * i + j)  # even, and seed + 1 (the second kernel) never another pair's seed
            kind = "varying" if varying else "uniform"
            pairs.append(synthetic_pair(sharp, seed, varying, blur, f"bsds/{name}/{kind}{seed}"))
    gopro = gopro_pairs(data, GOPRO_TRAIN_SEQUENCES)
    repeats = max(1, round(gopro_share * len(pairs) / ((1 - gopro_share) * len(gopro))))
    return pairs + gopro * repeats


def validation_pairs(data: Path, blur: BlurSettings) -> list[TensorPair]:
    """Centre ``VAL_SIZE`` crops of the first ``VAL_KODAK`` Kodak photos with odd-seeded kernels."""
    side = VAL_SIZE + blur.kernel_size - 1
    pairs = []
    for i, (name, path) in enumerate(_photos(data / "sharp" / "kodak24")[:VAL_KODAK]):
        sharp = center_crop(_rgb(read_image(path)), side, side)
        seed = 4 * i + 1
        pairs.append(synthetic_pair(sharp, seed, i % 2 == 1, blur, f"kodak/{name}/val{seed}"))
    return pairs


def kodak_test_pairs(data: Path, blur: BlurSettings) -> list[TensorPair]:
    """All Kodak photos, full size less the kernel margin, blurred with held-out kernels (uniform and spatially
    varying in turn)."""
    pairs = []
    for i, (name, path) in enumerate(_photos(data / "sharp" / "kodak24")):
        seed = TEST_SEED + 4 * i
        varying = i % 2 == 1
        kind = "varying" if varying else "uniform"
        pairs.append(synthetic_pair(_rgb(read_image(path)), seed, varying, blur, f"kodak/{name}/{kind}{seed}"))
    return pairs


def test_sets(data: Path, blur: BlurSettings) -> dict[str, list[TensorPair]]:
    """``{"gopro": the 7 test-sequence pairs, "kodak": the 24 held-out synthetic pairs}``."""
    return {"gopro": gopro_pairs(data, GOPRO_TEST_SEQUENCES), "kodak": kodak_test_pairs(data, blur)}
