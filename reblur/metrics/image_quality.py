"""Per-image quality metrics accumulated over batches and processes (a torchmetrics ``Metric``).

A metric is a function ``(prediction, target) -> (N,)`` registered by name in :data:`METRICS`;
``needs_target=False`` marks no-reference metrics (they receive ``target=None``), such as NIQE;
:func:`register_metric` adds more. Validation and test pick metrics by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torchmetrics import Metric

from reblur.metrics.full_reference import psnr, ssim
from reblur.metrics.lpips_distance import LPIPSDistance
from reblur.metrics.niqe import niqe


@dataclass(frozen=True)
class MetricSpec:
    """A per-image metric: ``compute(prediction, target) -> (N,)``; ``higher_is_better`` for reports."""

    compute: Callable[..., torch.Tensor]
    needs_target: bool = True
    higher_is_better: bool = True


def _lpips_alex() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    distance = LPIPSDistance("alex")  # built lazily: only runs that ask for LPIPS need its weights
    return lambda prediction, target: distance(prediction, target)


METRICS: dict[str, MetricSpec] = {
    "psnr": MetricSpec(psnr),
    "ssim": MetricSpec(ssim),
    "lpips": MetricSpec(_lpips_alex(), higher_is_better=False),
    "niqe": MetricSpec(lambda prediction, target: niqe(prediction), needs_target=False, higher_is_better=False),
}


def register_metric(name: str, spec: MetricSpec) -> None:
    """Make ``name`` available to :class:`ImageQualityMetrics` (e.g. NIQE, a no-reference metric)."""
    METRICS[name] = spec


class ImageQualityMetrics(Metric):
    """Means over images of the named per-image metrics, e.g. ``("psnr", "ssim", "lpips")``.

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

    def __init__(self, names: Sequence[str] = ("psnr", "ssim", "lpips"), **kwargs) -> None:
        super().__init__(**kwargs)
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; available: {sorted(METRICS)}")
        self.names = list(names)
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
            values[name] = spec.compute(prediction, target if spec.needs_target else None)
        return values

    def update(self, prediction: torch.Tensor, target: torch.Tensor | None = None) -> None:
        values = self.per_image(prediction, target)
        self.sums += torch.stack([values[n].double().sum() for n in self.names])
        self.count += prediction.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        return {name: self.sums[i] / self.count for i, name in enumerate(self.names)}
