"""Image quality metrics for deblurring: PSNR, SSIM, LPIPS per image, accumulated as torchmetrics."""

from reblur.metrics.full_reference import psnr, ssim
from reblur.metrics.image_quality import METRICS, ImageQualityMetrics, MetricSpec, register_metric
from reblur.metrics.lpips_distance import LPIPSDistance

__all__ = ["METRICS", "ImageQualityMetrics", "LPIPSDistance", "MetricSpec", "psnr", "register_metric", "ssim"]
