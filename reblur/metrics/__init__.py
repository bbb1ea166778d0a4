"""Image quality metrics for deblurring: PSNR, SSIM, LPIPS, NIQE per image, accumulated as torchmetrics."""

from reblur.metric_names import METRIC_NAMES
from reblur.metrics.full_reference import SSIM_CONVENTIONS, psnr, ssim
from reblur.metrics.image_quality import METRICS, ImageQualityMetrics, MetricSpec
from reblur.metrics.lpips_distance import LPIPSDistance
from reblur.metrics.niqe import NIQE, matlab_imresize, niqe

__all__ = [
    "METRICS",
    "METRIC_NAMES",
    "NIQE",
    "SSIM_CONVENTIONS",
    "ImageQualityMetrics",
    "LPIPSDistance",
    "MetricSpec",
    "matlab_imresize",
    "niqe",
    "psnr",
    "ssim",
]
