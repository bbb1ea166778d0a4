"""Callbacks of a SelfDeblur run: writing results (and resuming), keeping the image in progress, logging
snapshots, the progress bar."""

from selfdeblur.callbacks.image_checkpoint import ImageCheckpoint
from selfdeblur.callbacks.progress_bar import SelfDeblurProgressBar
from selfdeblur.callbacks.result_writer import SUMMARY_FIELDS, ResultWriter
from selfdeblur.callbacks.snapshots import LatentSnapshots

__all__ = ["SUMMARY_FIELDS", "ImageCheckpoint", "LatentSnapshots", "ResultWriter", "SelfDeblurProgressBar"]
