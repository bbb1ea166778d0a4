"""The images SelfDeblur solves: discovery, validation, and the DataModule that serves them.

SelfDeblur has no training set: each blurry image is its own optimisation problem. The
DataModule lists the images (a folder, a list of files, the Levin et al. benchmark layout, or a
synthetic example), decides the kernel size of each, validates everything when it is set up
(before any optimisation starts), and serves *steps*: for each group of ``images_per_group``
images, the group's blurry images ``steps`` times in a row (one batch per optimisation step).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from selfdeblur import synthetic
from selfdeblur.blur import convolve_valid
from selfdeblur.image_io import IMAGE_EXTENSIONS, read_image, read_kernel
from selfdeblur.metrics import aligned_psnr

# Kernel sizes the SelfDeblur authors use for Levin et al.'s kernels 1-8 (selfdeblur_levin.py).
# They are 2 px smaller than the ground-truth kernel files (19, 17, 15, 27, 13, 21, 23, 23),
# except kernel 4.
LEVIN_KERNEL_SIZES = {1: 17, 2: 15, 3: 13, 4: 27, 5: 11, 6: 19, 7: 21, 8: 21}
_LEVIN_NAME = re.compile(r"^im(\d+)_kernel(\d+)_img$")
# Lai et al. (CVPR 2016) uniform set: kernel sizes the SelfDeblur authors use for kernel_01..04 (selfdeblur_lai.py).
LAI_KERNEL_SIZES = {1: 31, 2: 51, 3: 55, 4: 75}
LAI_CATEGORIES = ("manmade", "natural", "people", "saturated", "text")
_LAI_NAME = re.compile(r"^(" + "|".join(LAI_CATEGORIES) + r")_(\d+)_kernel_(\d+)$")


@dataclass
class BlurryImage:
    """One problem to solve.

    ``blurry``, ``sharp`` and ``true_kernel`` are either file paths (read on demand) or tensors:
    images ``(C, H, W)`` in [0, 1] (C = 1 or 3), kernels ``(k, k)`` in convolution orientation
    summing to 1. ``sharp`` and ``true_kernel`` are known only for benchmarks and synthetic data.
    """

    name: str
    kernel_size: int
    blurry: Path | torch.Tensor
    sharp: Path | torch.Tensor | None = None
    true_kernel: Path | torch.Tensor | None = None
    kernel_size_origin: str = "default"
    description: str = ""
    size: tuple[int, int] | None = None  # (H, W), known once the DataModule has validated the image
    true_kernel_rotated: bool = False  # the ground-truth kernel file had to be rotated by 180 degrees

    @property
    def source(self) -> str:
        """The file, or a description of an in-memory image."""
        return str(self.blurry) if isinstance(self.blurry, Path) else (self.description or f"<{self.name}>")

    def load(self) -> torch.Tensor:
        return self.blurry if isinstance(self.blurry, torch.Tensor) else read_image(self.blurry)

    def load_sharp(self) -> torch.Tensor | None:
        return self.sharp if not isinstance(self.sharp, Path) else read_image(self.sharp)

    def load_true_kernel(self) -> torch.Tensor | None:
        return self.true_kernel if not isinstance(self.true_kernel, Path) else read_kernel(self.true_kernel)


@dataclass
class SyntheticBlur:
    """A blurry image made from a scikit-image sample with a seeded random motion kernel.

    The sharp crop is ``(size + kernel_size - 1)`` pixels wide; its 'valid' convolution with the
    kernel (plus noise) is the ``size x size`` blurry image, and its centre ``size x size`` is the
    ground truth.
    """

    image: str = "camera"
    size: int = 128
    scale: float = 0.5
    kernel_size: int = 13
    kernel_seed: int = 0
    noise_sigma: float = 0.0

    def make(self) -> BlurryImage:
        k = self.kernel_size
        sharp_full = synthetic.scikit_image(self.image, self.size + k - 1, self.scale)
        kernel = synthetic.random_motion_kernel(k, seed=self.kernel_seed)
        blurry = synthetic.blur(sharp_full, kernel, self.noise_sigma, seed=self.kernel_seed)
        truth = synthetic.center_crop(sharp_full, self.size, self.size)
        name = f"{self.image}_k{k}_seed{self.kernel_seed}"
        description = (
            f"synthetic: skimage.data.{self.image} x{self.scale}, motion kernel {k}x{k} seed {self.kernel_seed}, "
            f"noise {self.noise_sigma}"
        )
        return BlurryImage(name, k, blurry, truth.contiguous(), kernel, "synthetic", description)


@dataclass
class GroupBatch:
    """What one optimisation step receives.

    ``group`` numbers the groups of this run from 0; ``step`` is the 0-based step within the group;
    ``first_image`` is the 1-based position of the group's first image among ``total_images``.
    An *idle* batch (``group == -1``, no names) asks for nothing: on several devices, a rank with a
    smaller share of the images steps through them while the others finish.
    ``blurry`` holds the group's blurry images ``(C, H, W)`` at the group's first step only (empty
    after it: the module keeps what it needs, and the images are not copied to the device each step).
    """

    group: int
    step: int
    names: list[str]
    kernel_sizes: list[int]
    blurry: list[torch.Tensor]
    first_image: int = 1
    total_images: int = 1

    @property
    def idle(self) -> bool:
        return not self.names


class InOrder(DistributedSampler):
    """Every index of the dataset, in order.

    On several devices each rank's dataset is already its own share of the groups
    (:meth:`SelfDeblurDataModule.rank_share`); being a ``DistributedSampler`` keeps Lightning from
    replacing this sampler by one that would split the steps of a group between ranks.
    """

    def __init__(self, dataset: Dataset) -> None:
        super().__init__(dataset, num_replicas=1, rank=0, shuffle=False)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.dataset)))


class GroupSteps(Dataset):
    """``(len(groups) + idle_groups) * steps`` items: item ``i`` is step ``i % steps`` of group
    ``i // steps``, then idle batches."""

    def __init__(
        self,
        groups: Sequence[Sequence[BlurryImage]],
        steps: int,
        first_images: Sequence[int],
        total: int,
        idle_groups: int = 0,
    ):
        self.groups = [list(g) for g in groups]
        self.steps = steps
        self.first_images = list(first_images)
        self.total = total
        self.idle_groups = idle_groups

    def __len__(self) -> int:
        return (len(self.groups) + self.idle_groups) * self.steps

    def __getitem__(self, index: int) -> GroupBatch:
        if not 0 <= index < len(self):
            raise IndexError(index)
        g, step = divmod(index, self.steps)
        if g >= len(self.groups):
            return GroupBatch(group=-1, step=step, names=[], kernel_sizes=[], blurry=[], total_images=self.total)
        return GroupBatch(
            group=g,
            step=step,
            names=[image.name for image in self.groups[g]],
            kernel_sizes=[image.kernel_size for image in self.groups[g]],
            blurry=[image.load() for image in self.groups[g]] if step == 0 else [],
            first_image=self.first_images[g],
            total_images=self.total,
        )


def _list_folder(folder: Path, recursive: bool, extensions: Sequence[str]) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in extensions)


def discover_files(
    images: str | Sequence[str], recursive: bool = False, extensions: Sequence[str] = IMAGE_EXTENSIONS
) -> list[tuple[str, Path]]:
    """``(name, path)`` of every image in ``images`` (a folder, a file, or a list of either).

    Names are paths relative to their folder without the suffix (file stems for single files);
    they name the outputs, so two inputs with the same name are an error.
    """
    entries = [images] if isinstance(images, str) else list(images)
    if not entries:
        raise ValueError("data.images is empty: give a folder, an image file, or a list of them")
    found: list[tuple[str, Path]] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if path.is_dir():
            files = _list_folder(path, recursive, extensions)
            if not files:
                raise ValueError(f"data.images: no images ({', '.join(extensions)}) in folder '{path}'")
            found += [(str(f.relative_to(path).with_suffix("").as_posix()), f) for f in files]
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


def _benchmark_image(blurry: Path, kernel_size: int, sharp: Path, kernel: Path, origin: str) -> BlurryImage:
    """A benchmark image named by its file stem; the ground truth and kernel where their files exist."""
    return BlurryImage(
        name=blurry.stem,
        kernel_size=kernel_size,
        blurry=blurry,
        sharp=sharp if sharp.is_file() else None,
        true_kernel=kernel if kernel.is_file() else None,
        kernel_size_origin=origin,
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
    """Lai et al.'s uniform-blur benchmark in the layout the SelfDeblur authors use.

    ``root/uniform_ycbcr/CATEGORY_NN_kernel_KK.png``: blurry images (the Y channel of Lai et al.'s
    ``uniform`` images; 5 categories x 5 images x 4 kernels), ``root/ground_truth/CATEGORY_NN.png``:
    sharp colour images (scored on their Y channel), kernel sizes from :data:`LAI_KERNEL_SIZES`. Kernels
    are not part of this layout; ``root/kernel/kernel_KK.png`` is used where present.
    """
    root = Path(root).expanduser()
    blurry_dir = root / "uniform_ycbcr"
    if not blurry_dir.is_dir():
        raise FileNotFoundError(f"data.images: Lai folder without 'uniform_ycbcr/': '{root}'")
    images = []
    for path in sorted(blurry_dir.glob("*.png")):
        match = _LAI_NAME.match(path.stem)
        if match is None:
            continue
        category, index, k = match.group(1), int(match.group(2)), int(match.group(3))
        if k not in LAI_KERNEL_SIZES:
            raise ValueError(f"'{path}': Lai kernels are numbered 01-04, got kernel_{match.group(3)}")
        sharp, kernel = root / "ground_truth" / f"{category}_{index:02d}.png", root / "kernel" / f"kernel_{k:02d}.png"
        images.append(_benchmark_image(path, LAI_KERNEL_SIZES[k], sharp, kernel, "Lai table"))
    if not images:
        raise ValueError(f"data.images: no Lai images (CATEGORY_NN_kernel_KK.png) in '{blurry_dir}'")
    return images


def orient_true_kernel(blurry: torch.Tensor, sharp: torch.Tensor, kernel: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Return ``kernel`` in convolution orientation for this blurry/sharp pair, and whether it was rotated.

    The kernel files of the Levin et al. data as distributed by the SelfDeblur authors are not stored
    in one orientation: convolving ``gt/imI.png`` with ``gt/kernelK.png`` reproduces the blurry images
    of kernels 4 and 8, while kernels 1, 2, 3, 5, 6 and 7 must be rotated by 180 degrees first (measured
    on all 32 pairs; docs/performance.md). So the orientation is chosen by the data: of the kernel and its
    rotation, the one whose 'valid' convolution of the sharp image is closer to the blurry image (best
    integer shift within 4 px) is in convolution orientation.
    """
    margin = (kernel.shape[-1] - 1) // 2
    h, w = blurry.shape[-2:]
    target = blurry[..., margin : h - margin, margin : w - margin]

    def fit(candidate: torch.Tensor) -> float:
        return aligned_psnr(convolve_valid(sharp.unsqueeze(0), candidate)[0], target, 4)[0]

    rotated = kernel.flip(-2, -1)
    return (rotated, True) if fit(rotated) > fit(kernel) else (kernel, False)


def _sidecar_kernel_size(path: Path) -> int | None:
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


class SelfDeblurDataModule(pl.LightningDataModule):
    """Serves the blurry images for :class:`selfdeblur.SelfDeblur`.

    Args:
        images: a folder, an image file, or a list of them; for ``layout="levin"`` the benchmark
            folder. Give either ``images`` or ``synthetic``.
        layout: ``"files"`` (any images), ``"lai"`` (Lai et al.'s uniform set, see :func:`discover_lai`),
            or ``"levin"`` (Levin et al.'s benchmark layout, with
            ground truth and the authors' kernel sizes).
        kernel_size: default kernel size (odd), used where nothing more specific is given.
        kernel_sizes: kernel size per image, by name (relative path without suffix) or file name;
            it overrides a sidecar ``<stem>.json`` file (``{"kernel_size": 31}``), which overrides
            the Levin table and the default.
        synthetic: solve one synthetic blurry image instead (see :class:`SyntheticBlur`).
        images_per_group: how many images are optimised together (each with its own networks).
        recursive: search folders recursively.

    Example:
        >>> dm = SelfDeblurDataModule(synthetic=SyntheticBlur(size=32, kernel_size=5))
        >>> dm.setup("fit")
        >>> [(image.name, image.kernel_size) for image in dm.images]
        [('camera_k5_seed0', 5)]
    """

    def __init__(
        self,
        images: str | list[str] | None = None,
        layout: Literal["files", "levin", "lai"] = "files",
        kernel_size: int = 31,
        kernel_sizes: dict[str, int] | None = None,
        synthetic: SyntheticBlur | None = None,
        images_per_group: int = 1,
        recursive: bool = False,
    ) -> None:
        super().__init__()
        if (images is None) == (synthetic is None):
            raise ValueError("give either data.images (a folder, file or list of files) or data.synthetic, not both")
        if images_per_group < 1:
            raise ValueError(f"data.images_per_group must be >= 1, got {images_per_group}")
        self.source = images
        self.layout = layout
        self.kernel_size = kernel_size
        self.kernel_sizes = dict(kernel_sizes or {})
        self.synthetic = synthetic
        self.images_per_group = images_per_group
        self.recursive = recursive
        self.images: list[BlurryImage] = []
        self.all_images: list[BlurryImage] = []
        self.skipped: list[str] = []
        self._is_setup = False

    # -- discovery -------------------------------------------------------------------------
    def _discover(self) -> list[BlurryImage]:
        if self.synthetic is not None:
            return [self.synthetic.make()]
        if self.layout in ("levin", "lai"):
            if not isinstance(self.source, str):
                raise ValueError(f"data.images must be one folder for layout {self.layout!r}")
            found = (discover_levin if self.layout == "levin" else discover_lai)(self.source)
        elif self.layout == "files":
            found = [
                BlurryImage(name=name, kernel_size=self.kernel_size, blurry=path)
                for name, path in discover_files(self.source, self.recursive)
            ]
        else:
            raise ValueError(f"data.layout must be 'files', 'levin' or 'lai', got {self.layout!r}")
        for image in found:
            sidecar = _sidecar_kernel_size(image.blurry)
            if sidecar is not None:
                image.kernel_size, image.kernel_size_origin = sidecar, f"sidecar {image.blurry.with_suffix('.json')}"
            for key in (image.name, image.blurry.name):
                if key in self.kernel_sizes:
                    image.kernel_size, image.kernel_size_origin = self.kernel_sizes[key], f"data.kernel_sizes[{key!r}]"
                    break
        unknown = set(self.kernel_sizes) - {i.name for i in found} - {i.blurry.name for i in found}
        if unknown:
            raise ValueError(f"data.kernel_sizes names images that were not found: {sorted(unknown)}")
        return found

    def _validate(self, image: BlurryImage) -> None:
        """Decode the image and check its kernel size now, so that errors come before any work."""
        blurry = image.load()
        if blurry.ndim != 3 or blurry.shape[0] not in (1, 3):
            raise ValueError(f"'{image.source}': expected a grayscale or RGB image, got shape {tuple(blurry.shape)}")
        image.size = (blurry.shape[-2], blurry.shape[-1])
        origin = "data.kernel_size" if image.kernel_size_origin == "default" else image.kernel_size_origin
        validate_kernel_size(image.kernel_size, *blurry.shape[-2:], where=f"'{image.source}' ({origin})")
        sharp = image.load_sharp()
        if sharp is not None and sharp.shape[-2:] != blurry.shape[-2:]:
            raise ValueError(
                f"'{image.source}': ground truth '{image.sharp}' is {tuple(sharp.shape[-2:])}, "
                f"the blurry image {tuple(blurry.shape[-2:])}"
            )
        kernel = image.load_true_kernel()
        if isinstance(image.true_kernel, Path) and sharp is not None and sharp.shape[0] == blurry.shape[0]:
            image.true_kernel, rotated = orient_true_kernel(blurry, sharp, kernel)
            image.true_kernel_rotated = rotated

    def setup(self, stage: str | None = None) -> None:
        if self._is_setup:
            return
        images = self._discover()
        for image in images:
            self._validate(image)
        self.all_images = images
        self.images = list(images)
        self._is_setup = True

    # -- what remains to do ------------------------------------------------------------------
    def skip(self, names: set[str]) -> None:
        """Leave out images that are already solved (called by the result writer)."""
        self.skipped = [i.name for i in self.images if i.name in names]
        self.images = [i for i in self.images if i.name not in names]

    def image(self, name: str) -> BlurryImage:
        for image in self.all_images:
            if image.name == name:
                return image
        raise KeyError(name)

    def groups(self) -> list[list[BlurryImage]]:
        n = self.images_per_group
        return [self.images[i : i + n] for i in range(0, len(self.images), n)]

    def rank_share(self, rank: int, world_size: int) -> tuple[list[list[BlurryImage]], int]:
        """The groups rank ``rank`` of ``world_size`` solves (every ``world_size``-th, from ``rank``)
        and how many idle groups it adds so that every rank runs the same number of steps."""
        groups = self.groups()
        mine = groups[rank::world_size]
        return mine, -(-len(groups) // world_size) - len(mine)

    def train_dataloader(self) -> DataLoader:
        steps = getattr(self.trainer.lightning_module, "steps", None) if self.trainer else None
        if not isinstance(steps, int):
            raise RuntimeError("SelfDeblurDataModule serves optimisation steps: use it with a SelfDeblur module")
        position = {image.name: i + 1 for i, image in enumerate(self.all_images)}
        groups, idle = self.rank_share(self.trainer.global_rank, self.trainer.world_size)
        dataset = GroupSteps(groups, steps, [position[g[0].name] for g in groups], len(self.all_images), idle)
        return DataLoader(dataset, batch_size=None, sampler=InOrder(dataset), num_workers=0)


__all__ = [
    "LAI_KERNEL_SIZES",
    "LEVIN_KERNEL_SIZES",
    "BlurryImage",
    "GroupBatch",
    "GroupSteps",
    "SelfDeblurDataModule",
    "SyntheticBlur",
    "discover_files",
    "discover_lai",
    "discover_levin",
]
