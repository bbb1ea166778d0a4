"""The DataModule that serves SelfDeblur's images as optimisation steps.

SelfDeblur has no training set: each blurry image is its own optimisation problem. The
DataModule lists the images (a folder, a list of files, the Levin et al. benchmark layout, or a
synthetic example; :mod:`selfdeblur.data.discovery`), decides the kernel size of each, validates
everything when it is set up (before any optimisation starts), and serves *steps*: for each group of
``images_per_group`` images, the group's blurry images ``steps`` times in a row (one batch per
optimisation step).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from deblur_core.cli_errors import UsageError
from selfdeblur.data.discovery import (
    discover_files,
    discover_lai,
    discover_levin,
    names_example,
    select_by_name,
    sidecar_kernel_size,
    validate_kernel_size,
)
from selfdeblur.data.images import BlurryImage, SyntheticBlur
from selfdeblur.data.kernel_orientation import orient_true_kernel


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

    dataset: GroupSteps

    def __init__(self, dataset: GroupSteps) -> None:
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
        names: solve only the images whose name matches one of these shell-style patterns (``fnmatch``), e.g.
            ``["*_01_kernel_*"]`` for the first image of each category and kernel of Lai et al.'s set.

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
        names: list[str] | None = None,
    ) -> None:
        super().__init__()
        if (images is None) == (synthetic is None):
            raise UsageError("give either data.images (a folder, file or list of files) or data.synthetic, not both")
        if images_per_group < 1:
            raise UsageError(f"data.images_per_group must be >= 1, got {images_per_group}")
        self.source = images
        self.layout = layout
        self.kernel_size = kernel_size
        self.kernel_sizes = dict(kernel_sizes or {})
        self.synthetic = synthetic
        self.images_per_group = images_per_group
        self.recursive = recursive
        self.names = list(names) if names is not None else None
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
                raise UsageError(f"data.images must be one folder for layout {self.layout!r}")
            found = (discover_levin if self.layout == "levin" else discover_lai)(self.source)
        elif self.layout == "files":
            assert self.source is not None  # __init__ requires images when there is no synthetic
            found = [
                BlurryImage(name=name, kernel_size=self.kernel_size, blurry=path)
                for name, path in discover_files(self.source, self.recursive)
            ]
        else:
            raise UsageError(f"data.layout must be 'files', 'levin' or 'lai', got {self.layout!r}")
        paths: list[Path] = []
        for image in found:
            path = image.blurry
            assert isinstance(path, Path)  # discovered images are files
            paths.append(path)
            sidecar = sidecar_kernel_size(path)
            if sidecar is not None:
                image.kernel_size, image.kernel_size_origin = sidecar, f"sidecar {path.with_suffix('.json')}"
            for key in (image.name, path.name):
                if key in self.kernel_sizes:
                    image.kernel_size, image.kernel_size_origin = self.kernel_sizes[key], f"data.kernel_sizes[{key!r}]"
                    break
        unknown = set(self.kernel_sizes) - {i.name for i in found} - {p.name for p in paths}
        if unknown:
            raise UsageError(f"data.kernel_sizes names images that were not found: {sorted(unknown)}")
        if self.names is not None:
            example = names_example(found)
            found, unmatched = select_by_name(found, self.names)
            if unmatched:
                raise UsageError(f"data.names: no image matches {unmatched} in '{self.source}'{example}")
        return found

    def _validate(self, image: BlurryImage) -> None:
        """Decode the image and check its kernel size now, so that errors come before any work."""
        blurry = image.load()
        if blurry.ndim != 3 or blurry.shape[0] not in (1, 3):
            raise ValueError(f"'{image.source}': expected a grayscale or RGB image, got shape {tuple(blurry.shape)}")
        height, width = blurry.shape[-2], blurry.shape[-1]
        image.size = (height, width)
        origin = "data.kernel_size" if image.kernel_size_origin == "default" else image.kernel_size_origin
        validate_kernel_size(image.kernel_size, height, width, where=f"'{image.source}' ({origin})")
        sharp = image.load_sharp()
        if sharp is not None and sharp.shape[-2:] != blurry.shape[-2:]:
            raise ValueError(
                f"'{image.source}': ground truth '{image.sharp}' is {tuple(sharp.shape[-2:])}, "
                f"the blurry image {tuple(blurry.shape[-2:])}"
            )
        kernel = image.load_true_kernel()
        if isinstance(image.true_kernel, Path) and sharp is not None and sharp.shape[0] == blurry.shape[0]:
            assert kernel is not None  # read from the file image.true_kernel
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
        trainer = self.trainer
        steps = getattr(trainer.lightning_module, "steps", None) if trainer else None
        if trainer is None or not isinstance(steps, int):
            raise RuntimeError("SelfDeblurDataModule serves optimisation steps: use it with a SelfDeblur module")
        position = {image.name: i + 1 for i, image in enumerate(self.all_images)}
        groups, idle = self.rank_share(trainer.global_rank, trainer.world_size)
        dataset = GroupSteps(groups, steps, [position[g[0].name] for g in groups], len(self.all_images), idle)
        return DataLoader(dataset, batch_size=None, sampler=InOrder(dataset), num_workers=0)


class ImagesInMemory(SelfDeblurDataModule):
    """:class:`SelfDeblurDataModule` over images already in memory (:class:`BlurryImage` with tensors), as a
    Python caller or a benchmark has them; ``options`` are the other arguments of the DataModule.

    Example:
        >>> image = BlurryImage("photo", 5, torch.rand(3, 40, 40))
        >>> dm = ImagesInMemory([image])
        >>> dm.setup("fit")
        >>> dm.images[0].size
        (40, 40)
    """

    def __init__(self, images: Sequence[BlurryImage], **options: Any) -> None:
        super().__init__(images="<in memory>", **options)
        self.in_memory = list(images)

    def _discover(self) -> list[BlurryImage]:
        return list(self.in_memory)
