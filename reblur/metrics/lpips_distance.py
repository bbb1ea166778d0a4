"""LPIPS (Zhang et al., CVPR 2018), version 0.1, through the ``lpips`` package, at the [0, 1] convention.

The backbone (AlexNet by default, or VGG16) is torchvision's ImageNet model read from the torch hub
cache (``$TORCH_HOME/hub/checkpoints``); the linear calibration layers of v0.1 ship with ``lpips``.
The network is held outside any ``nn.Module`` tree on purpose: it is frozen, must not enter
checkpoints of the models being evaluated, and must not be seen by DDP.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

_BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def torch_hub_checkpoints() -> Path:
    """The folder torchvision reads pretrained weights from."""
    return Path(torch.hub.get_dir()) / "checkpoints"


class LPIPSDistance:
    """Callable LPIPS distance: ``(N, 3, H, W)`` pairs in [0, 1] -> ``(N,)`` distances (lower is closer).

    Inputs are mapped to [-1, 1] inside (``lpips``' ``normalize=True``). The network is built on the
    first call and follows the device of its inputs.
    """

    def __init__(self, net: str = "alex") -> None:
        if net not in _BACKBONE_FILES:
            raise ValueError(f"LPIPS net must be one of {sorted(_BACKBONE_FILES)}, got {net!r}")
        self.net = net
        self._model: torch.nn.Module | None = None

    def _build(self) -> torch.nn.Module:
        import lpips

        try:
            with warnings.catch_warnings():
                # lpips 0.1.4 still calls torchvision with the deprecated ``pretrained=True``.
                warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
                model = lpips.LPIPS(net=self.net, version="0.1", verbose=False)
        except Exception as error:  # typically: no network to download the backbone
            raise RuntimeError(
                f"cannot load the LPIPS {self.net} backbone ({error}). Put torchvision's "
                f"{_BACKBONE_FILES[self.net]} into {torch_hub_checkpoints()} "
                f"(TORCH_HOME={os.environ.get('TORCH_HOME', '<unset>')}); without internet, copy it there from a "
                "machine where torchvision downloaded it"
            ) from error
        return model.eval().requires_grad_(False)

    @torch.no_grad()
    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self._model is None:
            self._model = self._build()
        model = self._model.to(prediction.device)
        distance = model(prediction.float(), target.float(), normalize=True)
        return distance.flatten(1).mean(1).to(prediction.dtype)
