"""Blurry/sharp pairs for training deblurring networks: dataset layouts, augmentation, DataModules."""

from reblur.data.datamodule import (
    GoProDataModule,
    PairedDataModule,
    REDSDataModule,
    SyntheticPairsDataModule,
    evenly_spaced,
)
from reblur.data.folder_images import FolderImages, RankShare, is_unreadable
from reblur.data.layouts import ImagePair, PairedDataError, check_pairs, folder_pairs, gopro_pairs, reds_pairs
from reblur.data.paired_dataset import PairedImageDataset, TensorPair
from reblur.data.synthetic_pairs import (
    DEFAULT_SKIMAGE_IMAGES,
    SyntheticPair,
    fit_square,
    kernel_seed,
    make_pairs,
    sharp_sources,
    synthesize_pair,
    synthetic_splits,
)

__all__ = [
    "DEFAULT_SKIMAGE_IMAGES",
    "FolderImages",
    "GoProDataModule",
    "ImagePair",
    "PairedDataError",
    "PairedDataModule",
    "PairedImageDataset",
    "REDSDataModule",
    "RankShare",
    "SyntheticPair",
    "SyntheticPairsDataModule",
    "TensorPair",
    "check_pairs",
    "evenly_spaced",
    "fit_square",
    "folder_pairs",
    "gopro_pairs",
    "is_unreadable",
    "kernel_seed",
    "make_pairs",
    "reds_pairs",
    "sharp_sources",
    "synthesize_pair",
    "synthetic_splits",
]
