"""The metric names the options accept; a light module (no torch), so that ``reblur evaluate --help`` answers
before the metrics themselves are imported.

:data:`reblur.metrics.METRICS` holds the implementations under the same names (a test keeps them equal); the
docstring of :mod:`reblur.metrics.image_quality` says what each one is.
"""

from __future__ import annotations

METRIC_NAMES: tuple[str, ...] = ("psnr", "ssim", "ssim_matlab", "lpips", "niqe")
