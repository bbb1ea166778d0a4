"""Blurry/sharp pairs for training deblurring networks: dataset layouts, augmentation, DataModules."""

from reblur.data.datamodule import (
    FrameAveragingDataModule,
    GoProDataModule,
    PairedDataModule,
    REDSDataModule,
    SyntheticPairsDataModule,
    evenly_spaced,
)
from reblur.data.folder_images import FolderImages, RankShare, is_unreadable
from reblur.data.frame_averaging import FrameBurst, average_frames, frame_bursts
from reblur.data.layouts import ImagePair, PairedDataError, check_pairs, folder_pairs, gopro_pairs, reds_pairs
from reblur.data.paired_dataset import Pair, PairedImageDataset, TensorPair
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
    "FrameAveragingDataModule",
    "FrameBurst",
    "GoProDataModule",
    "ImagePair",
    "Pair",
    "PairedDataError",
    "PairedDataModule",
    "PairedImageDataset",
    "REDSDataModule",
    "RankShare",
    "SyntheticPair",
    "SyntheticPairsDataModule",
    "TensorPair",
    "average_frames",
    "check_pairs",
    "evenly_spaced",
    "fit_square",
    "folder_pairs",
    "frame_bursts",
    "gopro_pairs",
    "is_unreadable",
    "kernel_seed",
    "make_pairs",
    "reds_pairs",
    "sharp_sources",
    "synthesize_pair",
    "synthetic_splits",
]
