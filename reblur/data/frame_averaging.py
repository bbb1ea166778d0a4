r"""GOPRO-style blur synthesis: blurry images made by averaging consecutive high-frame-rate frames.

GOPRO (Nah et al., CVPR 2017) and REDS (Nah et al., CVPRW 2019) were made from 240 fps video: a
blurry image is the average of ``N`` consecutive frames taken in a linear-light space, and the sharp
target is the middle frame of those ``N``. With 8-bit frames :math:`f_1 \dots f_N` (values in 0-255)
and the gamma :math:`\gamma` of the camera response (2.2 for GOPRO's ``blur_gamma``):

.. math::

    B = \left\lfloor \Big( \tfrac{1}{N} \textstyle\sum_{k=1}^{N} f_k^{\gamma} \Big)^{1/\gamma} \right\rfloor,
    \qquad S = f_{\lfloor N/2 \rfloor + 1},

computed in float64 and truncated to 8 bits (``quantize=True``), which reproduces GOPRO-style files
bit for bit (:func:`average_frames`); ``gamma=1`` averages the stored values (GOPRO's ``blur``).
``quantize=False`` keeps the unrounded average in [0, 1].

A folder of frames is cut into bursts (:func:`frame_bursts`)::

    ROOT/000001.png 000002.png ...                one sequence, or
    ROOT/SEQUENCE/000001.png ...                  one sub-folder per sequence

Frames are taken in sorted file-name order (zero-padded numbers, as cameras and ffmpeg write them).
Burst ``i`` of a sequence uses frames ``i * stride .. i * stride + N - 1``; ``stride = N`` gives
non-overlapping bursts. A burst is named after its sharp frame, ``SEQUENCE/<sharp frame name>``, as
GOPRO names its blurry and sharp files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deblur_core.decoded_images import decode_problems
from deblur_core.image_io import find_images
from reblur.data.layouts import PairedDataError, header_size

GOPRO_GAMMA = 2.2


def average_frames(frames: Sequence[np.ndarray], gamma: float = GOPRO_GAMMA, quantize: bool = True) -> torch.Tensor:
    """The GOPRO-style blurry image of 8-bit ``frames`` (each ``(H, W, C)`` uint8), as ``(C, H, W)`` float32 in [0, 1].

    The mean of ``f ** gamma`` over the frames, to the power ``1 / gamma``, in float64 on the 0-255
    scale; with ``quantize`` truncated to integers (as GOPRO's files), then divided by 255.

    >>> dark, bright = np.zeros((1, 1, 1), np.uint8), np.full((1, 1, 1), 255, np.uint8)
    >>> float(average_frames([dark, bright]) * 255)  # 255 * 0.5 ** (1 / 2.2) = 186.08, truncated
    186.0
    >>> float(average_frames([dark, bright], gamma=1.0) * 255)  # 127.5, truncated
    127.0
    """
    if not frames:
        raise ValueError("average_frames needs at least one frame")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    total = np.zeros(frames[0].shape, dtype=np.float64)
    for frame in frames:
        if frame.shape != total.shape:
            raise ValueError(f"frames differ in shape: {frame.shape} vs {total.shape}")
        total += frame.astype(np.float64) ** gamma
    blurry = (total / len(frames)) ** (1.0 / gamma)
    if quantize:
        blurry = np.floor(blurry)
    return torch.from_numpy(np.ascontiguousarray((blurry / 255.0).astype(np.float32))).permute(2, 0, 1).contiguous()


def read_frame(path: Path) -> np.ndarray:
    """An 8-bit frame as ``(H, W, 3)`` uint8 (gray and palette frames converted to RGB, alpha dropped)."""
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except Exception as err:  # PIL raises many types for bad files; any of them means unusable
        raise PairedDataError([f"cannot read frame '{path}': {type(err).__name__}: {err}"], "frame bursts") from err


@dataclass(frozen=True)
class FrameBurst:
    """``N`` consecutive frames that make one blurry/sharp pair (see the module docstring).

    ``frames`` are the files in time order, ``sharp_index`` the position of the sharp target among
    them, ``size`` the frames' ``(H, W)``.
    """

    frames: tuple[Path, ...]
    sharp_index: int
    name: str
    gamma: float = GOPRO_GAMMA
    quantize: bool = True
    size: tuple[int, int] | None = None

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(blurry, sharp)``, each ``(3, H, W)`` float32 in [0, 1]."""
        frames = [read_frame(path) for path in self.frames]
        if any(frame.shape != frames[0].shape for frame in frames):
            shapes = sorted({f"{f.shape[0]}x{f.shape[1]}" for f in frames})
            raise PairedDataError([f"frames of burst '{self.name}' differ in size: {shapes}"], "frame bursts")
        blurry = average_frames(frames, self.gamma, self.quantize)
        sharp = torch.from_numpy(frames[self.sharp_index]).permute(2, 0, 1).float() / 255.0
        return blurry, sharp.contiguous()


def _sequences(root: Path) -> list[tuple[str, list[Path]]]:
    own = find_images(root)
    if own:
        return [(root.name, [own[name] for name in sorted(own)])]
    sequences = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        frames = find_images(folder)
        if frames:
            sequences.append((folder.name, [frames[name] for name in sorted(frames)]))
    return sequences


def frame_bursts(
    root: str | os.PathLike,
    frames_per_blur: int = 7,
    stride: int | None = None,
    sharp_index: int | None = None,
    gamma: float = GOPRO_GAMMA,
    quantize: bool = True,
    sequences: Sequence[str] | None = None,
    verify: bool = True,
) -> list[FrameBurst]:
    """The bursts of every sequence under ``root`` (frames checked: readable headers, one size per sequence).

    Args:
        root: a folder of frames, or of sequence folders of frames.
        frames_per_blur: ``N``, the frames averaged into one blurry image.
        stride: frames between the starts of consecutive bursts (default ``N``: no frame used twice).
        sharp_index: which frame of a burst is the sharp target, 0-based (default ``N // 2``: the middle
            one; for even ``N`` the later of the two middle frames, as in GOPRO).
        gamma, quantize: see :func:`average_frames`.
        sequences: only these sequence (folder) names; default all.
        verify: decode every frame completely, once per file version (:mod:`deblur_core.decoded_images`), so a
            truncated frame fails here; ``False`` reads headers only.

    Raises:
        PairedDataError: listing a missing root, unknown sequence names, sequences too short for one
            burst, unreadable frames and frames of different sizes.
    """
    if frames_per_blur < 1:
        raise ValueError(f"frames_per_blur must be >= 1, got {frames_per_blur}")
    stride = frames_per_blur if stride is None else stride
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    sharp_index = frames_per_blur // 2 if sharp_index is None else sharp_index
    if not 0 <= sharp_index < frames_per_blur:
        raise ValueError(
            f"sharp_index must be in [0, {frames_per_blur - 1}] for {frames_per_blur} frames, got {sharp_index}"
        )
    where = f"frame bursts under '{root}'"
    folder = Path(root)
    if not folder.is_dir():
        raise PairedDataError([f"expected a folder of frames or of sequence folders at '{folder}'"], where)
    found = _sequences(folder)
    if not found:
        raise PairedDataError([f"no frames (image files) in '{folder}' or in its sub-folders"], where)
    problems: list[str] = []
    if sequences is not None:
        names = {name for name, _ in found}
        problems += [f"no sequence '{name}' in '{folder}'" for name in sequences if name not in names]
        found = [(name, frames) for name, frames in found if name in set(sequences)]
    bursts: list[FrameBurst] = []
    for name, frames in found:
        if len(frames) < frames_per_blur:
            problems.append(f"sequence '{name}' has {len(frames)} frames, fewer than frames_per_blur {frames_per_blur}")
            continue
        sizes = {path: header_size(path) for path in frames}
        problems += [why for _, why in sizes.values() if why]
        if verify:
            problems += list(decode_problems([path for path, (_, why) in sizes.items() if why is None]).values())
        distinct = {size for size, _ in sizes.values() if size}
        if len(distinct) > 1:
            problems.append(f"sequence '{name}' mixes frame sizes {sorted(distinct)} (HxW)")
            continue
        size = distinct.pop() if distinct else None
        for start in range(0, len(frames) - frames_per_blur + 1, stride):
            burst = tuple(frames[start : start + frames_per_blur])
            bursts.append(FrameBurst(burst, sharp_index, f"{name}/{burst[sharp_index].name}", gamma, quantize, size))
    if problems:
        raise PairedDataError(problems, where)
    return bursts
