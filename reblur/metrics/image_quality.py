"""Per-image quality metrics accumulated over batches and processes (a torchmetrics ``Metric``).

A metric is a function ``(prediction, target, **options) -> (N,)`` registered by name in
:data:`METRICS`; ``needs_target=False`` marks no-reference metrics (they receive ``target=None``),
such as NIQE; ``options`` names the keyword options it accepts (``crop_border``, ``y_channel``);
:func:`register_metric` adds more. Validation, test and ``reblur evaluate`` pick metrics by name:

===============  =====================================================================  =========
name             what                                                                   options
===============  =====================================================================  =========
``psnr``         PSNR per image, data range 1                                           crop, Y
``ssim``         SSIM, per-channel 2-D Gaussian (scikit-image / Nah et al. convention)  crop, Y
``ssim_matlab``  SSIM, MATLAB's 3-D Gaussian over the RGB volume (NAFNet's ``ssim3d``)   crop, Y
``lpips``        LPIPS v0.1, AlexNet                                                    --
``niqe``         NIQE, no reference (MATLAB release)                                    crop
===============  =====================================================================  =========
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torchmetrics import Metric

from reblur.metrics.full_reference import psnr, ssim
from reblur.metrics.lpips_distance import LPIPSDistance
from reblur.metrics.niqe import niqe


@dataclass(frozen=True)
class MetricSpec:
    """A per-image metric: ``compute(prediction, target, **options) -> (N,)``; ``higher_is_better`` for reports.

    ``options`` lists the keyword options of :class:`ImageQualityMetrics` that ``compute`` accepts.
    """

    compute: Callable[..., torch.Tensor]
    needs_target: bool = True
    higher_is_better: bool = True
    options: tuple[str, ...] = ()


def _lpips_alex() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    distance = LPIPSDistance("alex")  # built lazily: only runs that ask for LPIPS need its weights
    return lambda prediction, target: distance(prediction, target)


def _niqe(prediction: torch.Tensor, target: None, crop_border: int = 0) -> torch.Tensor:
    return niqe(prediction, crop_border)


_CROP_Y = ("crop_border", "y_channel")
METRICS: dict[str, MetricSpec] = {
    "psnr": MetricSpec(psnr, options=_CROP_Y),
    "ssim": MetricSpec(ssim, options=_CROP_Y),
    "ssim_matlab": MetricSpec(partial(ssim, convention="matlab"), options=_CROP_Y),
    "lpips": MetricSpec(_lpips_alex(), higher_is_better=False),
    "niqe": MetricSpec(_niqe, needs_target=False, higher_is_better=False, options=("crop_border",)),
}


def register_metric(name: str, spec: MetricSpec) -> None:
    """Make ``name`` available to :class:`ImageQualityMetrics` (e.g. NIQE, a no-reference metric)."""
    METRICS[name] = spec


class ImageQualityMetrics(Metric):
    """Means over images of the named per-image metrics, e.g. ``("psnr", "ssim", "lpips")``.

    ``crop_border`` and ``y_channel`` (BasicSR's options, see :mod:`reblur.metrics.full_reference`)
    go to the metrics that accept them: both to PSNR and SSIM, the crop to NIQE; LPIPS ignores them.

    ``update(prediction, target)`` takes ``(N, C, H, W)`` batches in [0, 1] (predictions are
    clamped to [0, 1] first, as a saved 8-bit image would be); ``compute()`` returns
    ``{name: mean over all images seen}``. Sums and the image count are reduced by summation across
    processes, so DDP gives the mean over the whole dataset.

    >>> m = ImageQualityMetrics(["psnr"])
    >>> m.update(torch.full((1, 3, 8, 8), 0.1), torch.zeros(1, 3, 8, 8))
    >>> m.update(torch.full((1, 3, 8, 8), 0.01), torch.zeros(1, 3, 8, 8))
    >>> {k: round(float(v), 4) for k, v in m.compute().items()}
    {'psnr': 30.0}
    """

    full_state_update = False

    def __init__(
        self,
        names: Sequence[str] = ("psnr", "ssim", "lpips"),
        crop_border: int = 0,
        y_channel: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; available: {sorted(METRICS)}")
        if crop_border < 0:
            raise ValueError(f"crop_border must be >= 0, got {crop_border}")
        self.names = list(names)
        self.options = {"crop_border": crop_border, "y_channel": y_channel}
        self.add_state("sums", default=torch.zeros(len(self.names), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def per_image(self, prediction: torch.Tensor, target: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """``{name: (N,) values}`` for one batch, without accumulating."""
        prediction = prediction.float().clamp(0, 1)
        target = None if target is None else target.float()
        values = {}
        for name in self.names:
            spec = METRICS[name]
            if spec.needs_target and target is None:
                raise ValueError(f"metric {name!r} needs a target image")
            options = {key: self.options[key] for key in spec.options}
            values[name] = spec.compute(prediction, target if spec.needs_target else None, **options)
        return values

    def update(self, prediction: torch.Tensor, target: torch.Tensor | None = None) -> None:
        values = self.per_image(prediction, target)
        self.sums += torch.stack([values[n].double().sum() for n in self.names])
        self.count += prediction.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        return {name: self.sums[i] / self.count for i, name in enumerate(self.names)}
