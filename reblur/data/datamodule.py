"""LightningDataModules serving blurry/sharp pairs for training, validation and testing.

Batches are dicts (see :mod:`reblur.data.paired_dataset`)::

    {"blurry": float32 (N, 3, H, W) in [0, 1], "sharp": float32 (N, 3, H, W) in [0, 1], "name": list[str]}

Training batches are ``batch_size`` random ``crop_size x crop_size`` crops (augmented as
configured); validation and test batches are full frames, ``val_batch_size`` at a time (1 by
default, since frames of different sizes do not stack). The datasets are found and checked in
``setup``, so bad data fails before the first step.

Configurable from YAML through LightningCLI, e.g.::

    data:
      class_path: reblur.data.GoProDataModule
      init_args:
        root: /data/GOPRO_Large
        batch_size: 16
        crop_size: 256
        val_max_images: 100

Which split serves which stage:

=================================  ===============  ============================================
DataModule                         fit (train)      validate / test / predict
=================================  ===============  ============================================
:class:`GoProDataModule`           ``train/``       ``test/`` (GOPRO has no validation split)
:class:`REDSDataModule`            ``train/``       ``val/`` (REDS test has no public sharp frames)
:class:`SyntheticPairsDataModule`  train images     held-out images (validation = test)
:class:`FrameAveragingDataModule`  other sequences  ``val_sequences`` (validation = test)
=================================  ===============  ============================================

Deblurring real photos: with ``predict_dir`` set (any DataModule), ``predict`` serves every image
under that folder instead of the table's split, one at a time (photos differ in size); see
:mod:`reblur.data.folder_images` for the items. Only that folder is needed then: a dataset
``root`` named by a training config need not exist for ``predict``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from deblur_core.cli_errors import UsageError
from reblur.data.folder_images import FolderImages, RankShare
from reblur.data.frame_averaging import GOPRO_GAMMA, FrameBurst, frame_bursts
from reblur.data.layouts import ImagePair, gopro_pairs, reds_pairs
from reblur.data.paired_dataset import Pair, PairedImageDataset
from reblur.data.synthetic_pairs import DEFAULT_SKIMAGE_IMAGES, SyntheticPair, synthetic_splits

Split = Literal["train", "val", "test"]


def evenly_spaced(count: int, limit: int | None) -> list[int]:
    """``limit`` indices spread evenly over ``range(count)`` (all of them if ``limit`` is None or larger).

    >>> evenly_spaced(10, 3), evenly_spaced(4, None), evenly_spaced(4, 10)
    ([0, 3, 6], [0, 1, 2, 3], [0, 1, 2, 3])
    """
    if limit is None or limit >= count:
        return list(range(count))
    return [i * count // limit for i in range(limit)]


class PairedDataModule(pl.LightningDataModule):
    """Base of the paired DataModules; subclasses say where the pairs of each split come from.

    Args:
        batch_size: training crops per batch.
        crop_size: side of the square training crops.
        augment: random flips and 90-degree rotations of training crops.
        channel_shuffle: random permutation of RGB in training crops.
        noise_sigma: Gaussian noise added to training inputs only ([0, 1] scale; fresh each draw).
        num_workers: DataLoader worker processes (0: load in the main process).
        pin_memory: page-locked batches for faster host-to-GPU copies; default: when CUDA exists.
        persistent_workers: keep workers between epochs (only applies when ``num_workers > 0``).
        val_batch_size: full frames per validation/test batch.
        val_max_images: validate on at most this many frames, spread evenly over the split (the
            same ones every time); the test set is always complete.
        drop_last: drop the last incomplete training batch.
        predict_dir: a folder of photos (searched recursively) for ``predict`` to deblur, one image
            per batch, instead of the blurry frames of the test split (the default, ``None``).
            Callbacks may leave images out with :meth:`skip_predictions`. In a distributed run each
            process gets every ``world_size``-th image (:class:`~reblur.data.folder_images.RankShare`),
            so no image is served twice.
    """

    def __init__(
        self,
        batch_size: int = 16,
        crop_size: int = 256,
        augment: bool = True,
        channel_shuffle: bool = False,
        noise_sigma: float = 0.0,
        num_workers: int = 4,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        val_batch_size: int = 1,
        val_max_images: int | None = None,
        drop_last: bool = True,
        predict_dir: str | None = None,
    ):
        super().__init__()
        # Records the arguments of the subclass too (Lightning walks the __init__ frames); loggers show them.
        self.save_hyperparameters()
        for arg, value in (("batch_size", batch_size), ("val_batch_size", val_batch_size), ("crop_size", crop_size)):
            if value < 1:
                raise UsageError(f"{arg} must be >= 1, got {value}")
        if val_max_images is not None and val_max_images < 1:
            raise UsageError(f"val_max_images must be >= 1 or None, got {val_max_images}")
        if num_workers < 0:
            raise UsageError(f"num_workers must be >= 0, got {num_workers}")
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.augment = augment
        self.channel_shuffle = channel_shuffle
        self.noise_sigma = noise_sigma
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.persistent_workers = persistent_workers
        self.val_batch_size = val_batch_size
        self.val_max_images = val_max_images
        self.drop_last = drop_last
        self.predict_dir = predict_dir
        self.train_set: PairedImageDataset | None = None
        self.val_set: Subset | None = None
        self.test_set: PairedImageDataset | None = None
        self.predict_set: FolderImages | None = None
        self._skipped_predictions: set[str] = set()

    def pairs(self, split: Split) -> Sequence[Pair]:
        """The pairs of ``split`` (found and checked); subclasses implement this."""
        raise NotImplementedError(f"{type(self).__name__} must implement pairs(split)")

    def describe(self, split: Split) -> str:
        """What ``split`` is, for error messages."""
        return f"{type(self).__name__} {split} split"

    def setup(self, stage: str | None = None) -> None:
        if stage in ("fit", None) and self.train_set is None:
            self.train_set = PairedImageDataset(
                self.pairs("train"),
                crop_size=self.crop_size,
                augment=self.augment,
                channel_shuffle=self.channel_shuffle,
                noise_sigma=self.noise_sigma,
                where=self.describe("train"),
            )
            if self.drop_last and len(self.train_set) < self.batch_size:
                raise ValueError(
                    f"{self.describe('train')} has {len(self.train_set)} pairs, fewer than batch_size "
                    f"{self.batch_size}: with drop_last=True an epoch would have no batch"
                )
        if stage in ("fit", "validate", None) and self.val_set is None:
            full = PairedImageDataset(self.pairs("val"), crop_size=None, where=self.describe("val"))
            self.val_set = Subset(full, evenly_spaced(len(full), self.val_max_images))
        test_split_predicts = stage == "predict" and self.predict_dir is None
        if (stage in ("test", None) or test_split_predicts) and self.test_set is None:
            self.test_set = PairedImageDataset(self.pairs("test"), crop_size=None, where=self.describe("test"))
        if stage in ("predict", None) and self.predict_dir is not None and self.predict_set is None:
            self.predict_set = FolderImages(self.predict_dir)

    def _loader(
        self, dataset, batch_size: int, shuffle: bool, drop_last: bool, sampler: Sampler | None = None
    ) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for a dataloader")
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers and self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, shuffle=True, drop_last=self.drop_last)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.val_batch_size, shuffle=False, drop_last=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.val_batch_size, shuffle=False, drop_last=False)

    def _predict_source(self) -> FolderImages | PairedImageDataset:
        source = self.predict_set if self.predict_dir is not None else self.test_set
        if source is None:
            raise RuntimeError(f"{type(self).__name__}: call setup('predict') before predicting")
        return source

    def predict_names(self) -> list[str]:
        """The names of all images ``predict`` serves, skipped ones included: paths relative to
        ``predict_dir``, or the test split's pair names."""
        source = self._predict_source()
        return list(source.names) if isinstance(source, FolderImages) else [pair.name for pair in source.pairs]

    def skip_predictions(self, names: Iterable[str]) -> None:
        """Leave the images called ``names`` out of the next :meth:`predict_dataloader` (e.g. those
        whose outputs exist already); replaces any earlier call's names."""
        self._skipped_predictions = set(names)

    def predict_dataloader(self) -> DataLoader:
        """The photos of ``predict_dir``, one per batch; without it, the test split's blurry frames
        (batches also carry ``sharp`` and ``name``). Names passed to :meth:`skip_predictions` are left
        out, and a distributed run serves each process its own share."""
        source: Dataset = self._predict_source()
        if self._skipped_predictions:
            names = self.predict_names()
            source = Subset(source, [i for i, name in enumerate(names) if name not in self._skipped_predictions])
        sampler = None
        trainer = self.trainer
        if trainer is not None and trainer.world_size > 1:
            sampler = RankShare(source, num_replicas=trainer.world_size, rank=trainer.global_rank)
        # Photos differ in size, so they do not stack: one per batch.
        batch_size = 1 if self.predict_dir is not None else self.val_batch_size
        return self._loader(source, batch_size, shuffle=False, drop_last=False, sampler=sampler)


class GoProDataModule(PairedDataModule):
    """GOPRO_Large (layout in :mod:`reblur.data.layouts`): trains on ``train/``; validates and tests
    on ``test/``, because GOPRO has no validation split (the usual practice; use ``val_max_images``
    for quicker validation on an even subset).

    Args:
        root: the ``GOPRO_Large`` folder.
        blur_folder: ``"blur_gamma"`` (default, the common benchmark) or ``"blur"``.
        verify: decode every file completely at setup, so a truncated file fails there and not mid-epoch; each file
            is decoded once and remembered by path, size and mtime (:mod:`deblur_core.decoded_images`). ``False``
            reads headers only.
        **kwargs: see :class:`PairedDataModule`.
    """

    def __init__(
        self, root: str, blur_folder: Literal["blur", "blur_gamma"] = "blur_gamma", verify: bool = True, **kwargs
    ):
        super().__init__(**kwargs)
        self.root = root
        self.blur_folder = blur_folder
        self.verify = verify
        self._found: dict[str, list[ImagePair]] = {}

    def pairs(self, split: Split) -> list[ImagePair]:
        folder: Literal["train", "test"] = "train" if split == "train" else "test"
        if folder not in self._found:
            self._found[folder] = gopro_pairs(self.root, folder, self.blur_folder, self.verify)
        return self._found[folder]

    def describe(self, split: Split) -> str:
        return f"GOPRO_Large '{self.root}' ({'train' if split == 'train' else 'test'}/, {self.blur_folder})"


class REDSDataModule(PairedDataModule):
    """REDS (layout in :mod:`reblur.data.layouts`): trains on ``train/``; validates and tests on
    ``val/`` (the REDS test split has no public sharp frames).

    Args:
        root: the REDS folder.
        verify: decode every file completely at setup, so a truncated file fails there and not mid-epoch; each file
            is decoded once and remembered by path, size and mtime (:mod:`deblur_core.decoded_images`). ``False``
            reads headers only.
        **kwargs: see :class:`PairedDataModule`.
    """

    def __init__(self, root: str, verify: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.root = root
        self.verify = verify
        self._found: dict[str, list[ImagePair]] = {}

    def pairs(self, split: Split) -> list[ImagePair]:
        folder: Literal["train", "val"] = "train" if split == "train" else "val"
        if folder not in self._found:
            self._found[folder] = reds_pairs(self.root, folder, self.verify)
        return self._found[folder]

    def describe(self, split: Split) -> str:
        return f"REDS '{self.root}' ({'train' if split == 'train' else 'val'}/)"


class SyntheticPairsDataModule(PairedDataModule):
    """Synthetic pairs made in memory at setup (see :mod:`reblur.data.synthetic_pairs`).

    Training uses all but the last ``val_images`` sharp images; validation and test both use the
    held-out last ``val_images`` with their own kernel seeds, so they are truly unseen.

    Args:
        sharp_dir: folder of sharp images (any size, searched recursively); default: scikit-image
            samples named by ``images``.
        images: scikit-image sample names (ignored with ``sharp_dir``); default
            :data:`~reblur.data.synthetic_pairs.DEFAULT_SKIMAGE_IMAGES`.
        image_size: side of the square pairs (the crops are ``crop_size`` within them).
        kernel_size: side of the random camera-shake kernels (odd).
        blur_noise_sigma: Gaussian noise made part of every blurry image (seeded, fixed per pair;
            also in validation). ``noise_sigma`` is the extra, fresh-per-draw training noise.
        pairs_per_image: kernels per training image.
        val_pairs_per_image: kernels per validation image (default ``pairs_per_image``).
        val_images: number of held-out images (the last ones of the list / sorted folder).
        seed: the seed all pairs derive from.
        crop_size: training crop side (default 128 here, to fit in the pairs).
        **kwargs: see :class:`PairedDataModule`.
    """

    def __init__(
        self,
        sharp_dir: str | None = None,
        images: list[str] | None = None,
        image_size: int = 256,
        kernel_size: int = 31,
        blur_noise_sigma: float = 0.01,
        pairs_per_image: int = 4,
        val_pairs_per_image: int | None = None,
        val_images: int = 2,
        seed: int = 0,
        crop_size: int = 128,
        **kwargs,
    ):
        super().__init__(crop_size=crop_size, **kwargs)
        self.sharp_dir = sharp_dir
        self.images = list(DEFAULT_SKIMAGE_IMAGES) if images is None and sharp_dir is None else images
        self.image_size = image_size
        self.kernel_size = kernel_size
        self.blur_noise_sigma = blur_noise_sigma
        self.pairs_per_image = pairs_per_image
        self.val_pairs_per_image = val_pairs_per_image
        self.val_images = val_images
        self.seed = seed
        self._splits: tuple[list[SyntheticPair], list[SyntheticPair]] | None = None

    def pairs(self, split: Split) -> list[SyntheticPair]:
        if self._splits is None:
            self._splits = synthetic_splits(
                self.sharp_dir,
                self.images,
                image_size=self.image_size,
                kernel_size=self.kernel_size,
                pairs_per_image=self.pairs_per_image,
                val_pairs_per_image=self.val_pairs_per_image,
                noise_sigma=self.blur_noise_sigma,
                val_images=self.val_images,
                seed=self.seed,
            )
        return self._splits[0] if split == "train" else self._splits[1]

    def describe(self, split: Split) -> str:
        origin = f"'{self.sharp_dir}'" if self.sharp_dir is not None else "scikit-image samples"
        return f"synthetic pairs from {origin} ({'train' if split == 'train' else 'held-out'} images)"


class FrameAveragingDataModule(PairedDataModule):
    """GOPRO-style pairs made from a folder of consecutive high-frame-rate frames
    (see :mod:`reblur.data.frame_averaging`): a blurry image averages ``frames_per_blur`` frames in a
    gamma space, its target is the middle one. Pairs are made on each access, so no extra disk is used.

    Training uses every sequence except ``val_sequences``; validation and test use those (with none
    named there is no validation, and ``test`` stops with a message).

    Args:
        root: a folder of frames (one sequence) or of sequence folders (``ROOT/SEQUENCE/000001.png``).
        val_sequences: names of the sequence folders held out for validation and test.
        frames_per_blur: frames averaged per blurry image (GOPRO: 7-13).
        stride: frames between the starts of consecutive bursts (default ``frames_per_blur``).
        sharp_index: which frame of a burst is the target, 0-based (default the middle, ``N // 2``).
        gamma: the gamma the frames are averaged in (2.2 as GOPRO's ``blur_gamma``; 1: the stored values).
        quantize: truncate blurry images to 8 bits, as GOPRO's files (``False``: keep the exact average).
        verify: decode every frame completely at setup, once per file version (``False``: headers only).
        **kwargs: see :class:`PairedDataModule`.
    """

    def __init__(
        self,
        root: str,
        val_sequences: list[str] | None = None,
        frames_per_blur: int = 7,
        stride: int | None = None,
        sharp_index: int | None = None,
        gamma: float = GOPRO_GAMMA,
        quantize: bool = True,
        verify: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if frames_per_blur < 1:
            raise UsageError(f"frames_per_blur must be >= 1, got {frames_per_blur}")
        if stride is not None and stride < 1:
            raise UsageError(f"stride must be >= 1 or None, got {stride}")
        if sharp_index is not None and not 0 <= sharp_index < frames_per_blur:
            raise UsageError(f"sharp_index must be in [0, {frames_per_blur - 1}] or None, got {sharp_index}")
        if gamma <= 0:
            raise UsageError(f"gamma must be > 0, got {gamma}")
        self.root = root
        self.val_sequences = list(val_sequences or [])
        self.burst_options = {
            "frames_per_blur": frames_per_blur,
            "stride": stride,
            "sharp_index": sharp_index,
            "gamma": gamma,
            "quantize": quantize,
            "verify": verify,
        }
        self._bursts: list[FrameBurst] | None = None

    def pairs(self, split: Split) -> list[FrameBurst]:
        if self._bursts is None:
            self._bursts = frame_bursts(self.root, **self.burst_options)  # type: ignore[arg-type]
            known = {burst.name.split("/")[0] for burst in self._bursts}
            unknown = [name for name in self.val_sequences if name not in known]
            if unknown:
                raise UsageError(
                    f"data.val_sequences: no sequence {unknown} under '{self.root}'; found {sorted(known)}"
                )
        held_out = set(self.val_sequences)
        if split == "train":
            return [b for b in self._bursts if b.name.split("/")[0] not in held_out]
        if split == "test" and not held_out:
            raise UsageError("data.val_sequences is empty: name the sequence folders to test on")
        return [b for b in self._bursts if b.name.split("/")[0] in held_out]

    def describe(self, split: Split) -> str:
        which = "training sequences" if split == "train" else f"held-out sequences {self.val_sequences}"
        return f"frame bursts under '{self.root}' ({which})"
