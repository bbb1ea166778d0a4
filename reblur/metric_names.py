"""The metric names the options accept, with one line each for ``--help``; a light module (no torch), so that
``reblur evaluate --help`` answers before the metrics themselves are imported.

:data:`reblur.metrics.METRICS` holds the implementations under the same names (a test keeps them equal).
"""

from __future__ import annotations

METRIC_HELP: dict[str, str] = {
    "psnr": "PSNR per image, data range 1 (higher is better)",
    "ssim": "SSIM, per-channel 2-D Gaussian window, 'valid' filtering: scikit-image's and Nah et al.'s convention",
    "ssim_matlab": "SSIM as MATLAB's ssim of an RGB image: one 3-D Gaussian over the volume, replicate padding",
    "lpips": "LPIPS v0.1, AlexNet (lower is better)",
    "niqe": "NIQE, no reference: the authors' MATLAB release (lower is better)",
}
METRIC_NAMES: tuple[str, ...] = tuple(METRIC_HELP)
