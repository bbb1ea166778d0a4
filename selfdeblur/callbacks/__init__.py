"""Callbacks of a SelfDeblur run: writing results (and resuming), logging snapshots, the progress bar."""

from selfdeblur.callbacks.progress_bar import SelfDeblurProgressBar
from selfdeblur.callbacks.result_writer import SUMMARY_FIELDS, ResultWriter
from selfdeblur.callbacks.snapshots import LatentSnapshots

__all__ = ["SUMMARY_FIELDS", "LatentSnapshots", "ResultWriter", "SelfDeblurProgressBar"]
