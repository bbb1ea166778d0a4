r"""Losses of "Clean Images are Hard to Reblur" (Nah, Son, Lee and Lee, ICLR 2022), and the baselines.

Notation: :math:`B` blurry input, :math:`S` sharp target, :math:`M_D` the deblurring network,
:math:`M_R` the reblurring module, :math:`\|\cdot\|_1` the mean absolute difference over all
elements (batch, channels, pixels). Images are ``(N, C, H, W)`` in [0, 1].

Reblurring module (trained on **detached** inputs, so no gradient reaches :math:`M_D`):

.. math::

    \mathcal{L}_\text{Blur} = \| M_R(M_D(B)) - B \|_1, \qquad
    \mathcal{L}_\text{Sharp} = \| M_R(P) - P \|_1, \qquad
    \mathcal{L}_R = \mathcal{L}_\text{Blur} + \mathcal{L}_\text{Sharp},

where :math:`P = M_D(S)` is the *pseudo-sharp* image (the deblurring network applied to a sharp
image: clean content with the network's own artefacts, which :math:`M_R` must learn to leave alone)
or, as an option, :math:`P = S`.

Deblurring network (with :math:`M_R` frozen: its weights get no gradient, but the gradient flows
*through* it into :math:`M_D`):

.. math::

    \mathcal{L}_D = \| M_D(B) - S \|_1 + \lambda \, \| M_R(M_D(B)) - M_R(S) \|_1
    \;[\, + \mu \, \mathcal{L}_\text{VGG}(M_D(B), S) \,],

with :math:`M_R(S)` a constant target. :math:`\lambda = 0` with no :math:`M_R` is the L1 baseline;
:math:`\mu > 0` adds the perceptual baseline (:class:`VGGPerceptualLoss`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


def l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over all elements."""
    return (prediction - target).abs().mean()


def reblurring_module_losses(
    reblur_net: nn.Module, deblurred: torch.Tensor, blurry: torch.Tensor, pseudo_sharp: torch.Tensor
) -> dict[str, torch.Tensor]:
    r""":math:`\mathcal{L}_\text{Blur}`, :math:`\mathcal{L}_\text{Sharp}` and their sum for training :math:`M_R`.

    ``deblurred`` (:math:`M_D(B)`) and ``pseudo_sharp`` (:math:`P`) are detached here, whatever the
    caller passes, so that this loss only ever trains :math:`M_R`.

    >>> net = nn.Identity()
    >>> b, d = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    >>> {k: float(v) for k, v in reblurring_module_losses(net, d, b, d).items()}
    {'blur': 1.0, 'sharp': 0.0, 'total': 1.0}
    """
    deblurred, pseudo_sharp = deblurred.detach(), pseudo_sharp.detach()
    blur = l1(reblur_net(deblurred), blurry)
    sharp = l1(reblur_net(pseudo_sharp), pseudo_sharp)
    return {"blur": blur, "sharp": sharp, "total": blur + sharp}


def reblurring_loss(reblur_net: nn.Module, deblurred: torch.Tensor, sharp: torch.Tensor) -> torch.Tensor:
    r""":math:`\| M_R(M_D(B)) - M_R(S) \|_1`, the term that trains :math:`M_D`.

    The target :math:`M_R(S)` is computed without gradient. The caller keeps :math:`M_R`'s
    parameters frozen (``requires_grad=False``) during the :math:`M_D` step, so that only
    ``deblurred`` receives a gradient.
    """
    with torch.no_grad():
        target = reblur_net(sharp)
    return l1(reblur_net(deblurred), target)


def self_reblurring_loss(
    reblur_net: nn.Module, deblurred: torch.Tensor, reduction: Literal["mean", "none"] = "mean"
) -> torch.Tensor:
    r""":math:`\| M_R(M_D(B)) - \mathrm{sg}(M_D(B)) \|_1`: a clean image should not change when reblurred.

    Needs no ground truth; test-time adaptation minimises it (sg: stop-gradient). ``reduction="mean"``
    gives the mean over every element of the batch; ``"none"`` one value per image, ``(N,)``, the mean
    over its channels and pixels (for images of one size, their mean is the batch value).

    >>> x = torch.rand(2, 3, 4, 4)
    >>> float(self_reblurring_loss(nn.Identity(), x)), self_reblurring_loss(nn.Identity(), x, "none").shape
    (0.0, torch.Size([2]))
    """
    per_element = (reblur_net(deblurred) - deblurred.detach()).abs()
    if reduction == "mean":
        return per_element.mean()
    if reduction == "none":
        return per_element.flatten(1).mean(dim=1)
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


# ImageNet statistics the torchvision VGG weights were trained with.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

_VGG_LAYERS = {
    # name -> index of the ReLU in torchvision's ``features`` Sequential
    "vgg16": {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29},
    "vgg19": {"relu1_2": 3, "relu2_2": 8, "relu3_4": 17, "relu4_4": 26, "relu5_4": 35},
}
_VGG_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}


class VGGPerceptualLoss(nn.Module):
    r"""Perceptual loss :math:`\| \phi(x) - \phi(y) \|_2^2` (mean) on frozen VGG features, for the L1+VGG baseline.

    Default: VGG19 up to ``relu5_4`` ("VGG54", the feature layer used by SRGAN and by the EDSR code
    base); ``arch="vgg16"`` / other ``layer`` names are accepted (see ``_VGG_LAYERS``). Inputs are
    ``(N, 3, H, W)`` in [0, 1] and are normalised with the ImageNet statistics inside. The weights
    are torchvision's ImageNet ones, read from the torch hub cache
    (``$TORCH_HOME/hub/checkpoints``); ``pretrained=False`` gives random weights (tests only).
    """

    # Buffers, declared for type checkers (nn.Module's __getattr__ types them as Tensor | Module).
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, arch: str = "vgg19", layer: str = "relu5_4", pretrained: bool = True) -> None:
        super().__init__()
        if arch not in _VGG_LAYERS:
            raise ValueError(f"perceptual loss arch must be one of {sorted(_VGG_LAYERS)}, got {arch!r}")
        if layer not in _VGG_LAYERS[arch]:
            raise ValueError(f"{arch} has no layer {layer!r}; choose one of {sorted(_VGG_LAYERS[arch])}")
        import torchvision

        builder = getattr(torchvision.models, arch)
        if pretrained:
            weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
            try:
                net = builder(weights=weights)
            except Exception as error:  # no network: say where the file must be
                hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
                raise RuntimeError(
                    f"cannot load the ImageNet {arch} weights for the perceptual loss ({error}). Put "
                    f"{_VGG_FILES[arch]} into {hub} (set TORCH_HOME to change the folder)."
                ) from error
        else:
            net = builder(weights=None)
        self.features = net.features[: _VGG_LAYERS[arch][layer] + 1].eval()
        self.features.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        super().train(mode)
        self.features.eval()  # frozen feature extractor: never in training mode
        return self

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        features = self.features((prediction - self.mean) / self.std)
        with torch.no_grad():
            target_features = self.features((target - self.mean) / self.std)
        return F.mse_loss(features, target_features)
