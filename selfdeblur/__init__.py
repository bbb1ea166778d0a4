"""SelfDeblur (Ren et al., CVPR 2020): blind deconvolution of one image with deep priors, in Lightning.

The names below are imported on first use (PEP 562): ``selfdeblur --help`` then answers without loading torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "deblur": "api",
    "BlurryImage": "data",
    "SelfDeblurDataModule": "data",
    "SyntheticBlur": "data",
    "SelfDeblur": "lightning_module",
    "Compute": "options",
    "FastMode": "options",
    "Generators": "options",
    "Optimization": "options",
    "TotalVariation": "options",
    "DeblurResult": "result",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
