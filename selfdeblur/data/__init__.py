"""The images SelfDeblur solves: discovery, validation, and the DataModule that serves them."""

from selfdeblur.data.datamodule import GroupBatch, GroupSteps, ImagesInMemory, SelfDeblurDataModule
from selfdeblur.data.discovery import (
    LAI_KERNEL_SIZES,
    LEVIN_KERNEL_SIZES,
    discover_files,
    discover_lai,
    discover_levin,
    names_example,
    select_by_name,
)
from selfdeblur.data.images import BlurryImage, SyntheticBlur
from selfdeblur.data.kernel_orientation import orient_true_kernel

__all__ = [
    "LAI_KERNEL_SIZES",
    "LEVIN_KERNEL_SIZES",
    "BlurryImage",
    "GroupBatch",
    "GroupSteps",
    "ImagesInMemory",
    "SelfDeblurDataModule",
    "SyntheticBlur",
    "discover_files",
    "discover_lai",
    "discover_levin",
    "names_example",
    "orient_true_kernel",
    "select_by_name",
]
