"""A dataset of aligned blurry/sharp pairs, with training crops and augmentation applied to both alike.

Items are dicts::

    {"blurry": float32 (3, H, W) in [0, 1],   # the network input
     "sharp":  float32 (3, H, W) in [0, 1],   # the target, pixel-aligned with "blurry"
     "name":   str}                            # the pair's name, e.g. "GOPR0384_11_00/000001.png"

Grayscale images are repeated to 3 channels, so pairs from any source stack into one batch.

Training mode (``crop_size`` an int): each item is a ``crop_size x crop_size`` window taken at the
same random place in both images; with ``augment`` one of the 8 symmetries of the square
(horizontal flip, vertical flip and a 90-degree rotation, each with probability 1/2) is applied to
both; with ``channel_shuffle`` the same random permutation of RGB is applied to both;
with ``noise_sigma > 0`` Gaussian noise of that standard deviation is added to the blurry input only
(then clamped to [0, 1]) -- the target stays clean.

Evaluation mode (``crop_size=None``): full frames, unchanged.

All random draws use torch's global generator, which ``pytorch_lightning.seed_everything(seed,
workers=True)`` seeds in the main process and in every DataLoader worker, so runs repeat exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from deblur_core.image_io import read_image
from reblur.data.frame_averaging import FrameBurst
from reblur.data.layouts import ImagePair, PairedDataError, check_pairs


@dataclass
class TensorPair:
    """An in-memory pair: ``blurry`` and ``sharp`` are ``(C, H, W)`` float tensors in [0, 1], C = 1 or 3."""

    blurry: torch.Tensor
    sharp: torch.Tensor
    name: str


# What a dataset can hold: files of a pair, a pair in memory, or frames averaged into a pair on access.
Pair = ImagePair | TensorPair | FrameBurst


def _size(pair: Pair) -> tuple[int, int] | None:
    if isinstance(pair, TensorPair):
        return (int(pair.blurry.shape[-2]), int(pair.blurry.shape[-1]))
    return pair.size


def _source(pair: Pair) -> str:
    if isinstance(pair, ImagePair):
        return f"'{pair.blurry}'"
    if isinstance(pair, FrameBurst):
        return f"burst '{pair.name}' ('{pair.frames[0]}' ...)"
    return f"in-memory pair '{pair.name}'"


def _rgb(image: torch.Tensor) -> torch.Tensor:
    return image.expand(3, -1, -1) if image.shape[0] == 1 else image


class PairedImageDataset(Dataset):
    """Blurry/sharp pairs served as dicts (see the module docstring for format and augmentation).

    Args:
        pairs: :class:`~reblur.data.layouts.ImagePair` (files, read on each access) or
            :class:`TensorPair` (in memory) or :class:`~reblur.data.frame_averaging.FrameBurst` (frames
            averaged on each access), in any mix. File pairs whose ``size`` is unknown have
            their headers read (and checked) here.
        crop_size: side of the square training crop; ``None`` for evaluation (full frames).
        augment: random flips and 90-degree rotations (training mode only).
        channel_shuffle: random permutation of the colour channels (training mode only).
        noise_sigma: standard deviation of Gaussian noise added to the blurry input, on the [0, 1]
            scale (training mode only).
        where: what the pairs are, for error messages.

    Raises:
        PairedDataError: an image is smaller than ``crop_size`` (all such images are listed), or
            file pairs fail the checks of :func:`~reblur.data.layouts.check_pairs`.
        ValueError: augmentation requested in evaluation mode, or a bad argument.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        crop_size: int | None = 256,
        augment: bool = False,
        channel_shuffle: bool = False,
        noise_sigma: float = 0.0,
        where: str = "paired dataset",
    ):
        if crop_size is None and (augment or channel_shuffle or noise_sigma > 0):
            raise ValueError(
                "evaluation mode (crop_size=None) serves full frames unchanged: "
                "set augment=False, channel_shuffle=False and noise_sigma=0"
            )
        if crop_size is not None and crop_size < 1:
            raise ValueError(f"crop_size must be a positive int or None, got {crop_size}")
        if noise_sigma < 0:
            raise ValueError(f"noise_sigma must be >= 0, got {noise_sigma}")
        pairs = list(pairs)
        unsized = {i: p for i, p in enumerate(pairs) if isinstance(p, ImagePair) and p.size is None}
        if unsized:
            for i, checked in zip(unsized, check_pairs(unsized.values(), where)):
                pairs[i] = checked
        problems = []
        for pair in pairs:
            if isinstance(pair, TensorPair) and pair.blurry.shape != pair.sharp.shape:
                problems.append(
                    f"{_source(pair)}: blurry is {tuple(pair.blurry.shape)} but sharp is {tuple(pair.sharp.shape)}"
                )
            size = _size(pair)
            if crop_size is not None and size is not None and min(size) < crop_size:
                problems.append(f"{_source(pair)} is {size[0]}x{size[1]} (HxW), smaller than crop_size {crop_size}")
        if problems:
            raise PairedDataError(problems, where)
        self.pairs = pairs
        self.crop_size = crop_size
        self.augment = augment
        self.channel_shuffle = channel_shuffle
        self.noise_sigma = float(noise_sigma)

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, pair: Pair) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(pair, TensorPair):
            return pair.blurry, pair.sharp
        if isinstance(pair, FrameBurst):
            return pair.load()
        blurry, sharp = read_image(pair.blurry), read_image(pair.sharp)
        if blurry.shape[-2:] != sharp.shape[-2:]:  # the files changed since the dataset was built
            raise PairedDataError(
                [f"blurry '{pair.blurry}' is {tuple(blurry.shape)} but sharp '{pair.sharp}' is {tuple(sharp.shape)}"],
                "paired dataset",
            )
        return blurry, sharp

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        pair = self.pairs[index]
        blurry, sharp = self._load(pair)
        blurry, sharp = _rgb(blurry), _rgb(sharp)
        if self.crop_size is not None:
            blurry, sharp = self._random_crop(blurry, sharp, self.crop_size)
            if self.augment:
                blurry, sharp = self._random_symmetry(blurry, sharp)
            if self.channel_shuffle:
                order = torch.randperm(3)
                blurry, sharp = blurry[order], sharp[order]
            if self.noise_sigma > 0:
                blurry = (blurry + self.noise_sigma * torch.randn(blurry.shape)).clamp(0, 1)
        # Copies, so that a consumer writing into a batch never alters in-memory pairs.
        return {
            "blurry": blurry.float().contiguous().clone(),
            "sharp": sharp.float().contiguous().clone(),
            "name": pair.name,
        }

    @staticmethod
    def _random_crop(blurry: torch.Tensor, sharp: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = blurry.shape[-2:]
        top = int(torch.randint(0, height - size + 1, ()))
        left = int(torch.randint(0, width - size + 1, ()))
        window = (..., slice(top, top + size), slice(left, left + size))
        return blurry[window], sharp[window]

    @staticmethod
    def _random_symmetry(blurry: torch.Tensor, sharp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Three independent coin flips reach each of the 8 symmetries of the square exactly once.
        hflip, vflip, rot90 = (bool(b) for b in torch.randint(0, 2, (3,)))
        dims = [d for d, flip in ((-1, hflip), (-2, vflip)) if flip]
        if dims:
            blurry, sharp = blurry.flip(dims), sharp.flip(dims)
        if rot90:
            blurry, sharp = blurry.rot90(1, (-2, -1)), sharp.rot90(1, (-2, -1))
        return blurry, sharp
