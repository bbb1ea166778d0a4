"""Per-image quality metrics accumulated over batches and processes (a torchmetrics ``Metric``).

A metric is a function ``(prediction, target, **options) -> (N,)`` registered by name in
:data:`METRICS`; ``needs_target=False`` marks no-reference metrics (they receive ``target=None``),
such as NIQE; ``options`` maps the options of :class:`ImageQualityMetrics` it takes to its own keyword
names. The names are those of :data:`reblur.metric_names.METRIC_NAMES`, which the options accept without
importing torch (a test keeps the two equal). Validation, test and ``reblur evaluate`` pick metrics by name
(docs/conventions.md):

===============  =====================================================================  ==================
name             what                                                                   options
===============  =====================================================================  ==================
``psnr``         PSNR per image, data range 1                                           crop, color
``ssim``         SSIM, per-channel 2-D Gaussian (scikit-image / Nah et al. convention)  crop, color
``ssim_matlab``  SSIM, MATLAB's 3-D Gaussian over the RGB volume (NAFNet's ``ssim3d``)   crop, color
``lpips``        LPIPS v0.1, AlexNet                                                    --
``niqe``         NIQE, no reference (MATLAB release)                                    crop, niqe_color
===============  =====================================================================  ==================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torchmetrics import Metric

from deblur_core.conventions import FULL_REFERENCE_COLORS, NIQE_COLORS
from reblur.metrics.full_reference import psnr, ssim
from reblur.metrics.lpips_distance import LPIPSDistance
from reblur.metrics.niqe import niqe


@dataclass(frozen=True)
class MetricSpec:
    """A per-image metric: ``compute(prediction, target, **options) -> (N,)``; ``higher_is_better`` for reports.

    ``options`` maps options of :class:`ImageQualityMetrics` to the keyword ``compute`` takes them as.
    """

    compute: Callable[..., torch.Tensor]
    needs_target: bool = True
    higher_is_better: bool = True
    options: dict[str, str] = field(default_factory=dict)


def _lpips_alex() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    distance = LPIPSDistance("alex")  # built lazily: only runs that ask for LPIPS need its weights
    return lambda prediction, target: distance(prediction, target)


def _niqe(prediction: torch.Tensor, target: None, crop_border: int = 0, color: str = "y") -> torch.Tensor:
    return niqe(prediction, crop_border, color=color)


_CROP_COLOR = {"crop_border": "crop_border", "color": "color"}
METRICS: dict[str, MetricSpec] = {
    "psnr": MetricSpec(psnr, options=_CROP_COLOR),
    "ssim": MetricSpec(ssim, options=_CROP_COLOR),
    "ssim_matlab": MetricSpec(partial(ssim, convention="matlab"), options=_CROP_COLOR),
    "lpips": MetricSpec(_lpips_alex(), higher_is_better=False),
    "niqe": MetricSpec(
        _niqe, needs_target=False, higher_is_better=False, options={"crop_border": "crop_border", "niqe_color": "color"}
    ),
}


class ImageQualityMetrics(Metric):
    """Means over images of the named per-image metrics, e.g. ``("psnr", "ssim", "lpips")``.

    ``crop_border`` goes to PSNR, SSIM and NIQE, ``color`` (``"rgb"``, ``"y"``, ``"gray"``) to PSNR and SSIM,
    ``niqe_color`` (``"y"``, ``"gray"``) to NIQE; LPIPS takes none (docs/conventions.md).

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
    # States (add_state), declared for type checkers.
    sums: torch.Tensor
    count: torch.Tensor

    def __init__(
        self,
        names: Sequence[str] = ("psnr", "ssim", "lpips"),
        crop_border: int = 0,
        color: str = "rgb",
        niqe_color: str = "y",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; available: {sorted(METRICS)}")
        if crop_border < 0:
            raise ValueError(f"crop_border must be >= 0, got {crop_border}")
        self.names = list(names)
        if color not in FULL_REFERENCE_COLORS:
            raise ValueError(f"color must be one of {FULL_REFERENCE_COLORS}, got {color!r}")
        if niqe_color not in NIQE_COLORS:
            raise ValueError(f"niqe_color must be one of {NIQE_COLORS}, got {niqe_color!r}")
        self.options = {"crop_border": crop_border, "color": color, "niqe_color": niqe_color}
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
            options = {keyword: self.options[option] for option, keyword in spec.options.items()}
            values[name] = spec.compute(prediction, target if spec.needs_target else None, **options)
        return values

    def update(self, prediction: torch.Tensor, target: torch.Tensor | None = None) -> None:
        values = self.per_image(prediction, target)
        self.sums += torch.stack([values[n].double().sum() for n in self.names])
        self.count += prediction.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        return {name: self.sums[i] / self.count for i, name in enumerate(self.names)}
