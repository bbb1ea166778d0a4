r"""How the reblurring module :math:`M_R` treats an image: the observation the method rests on.

Nah et al. (ICLR 2022) build on one premise: :math:`M_R` amplifies the blur left in a deblurred image, bringing it
back toward the blurry input, while it hardly changes a sharp image ("clean images are hard to reblur"). For an
image :math:`x` (blurry input :math:`B`, deblurred :math:`M_D(B)`, sharp :math:`S`), per image:

* ``move``: :math:`\overline{|M_R(x) - x|}`, how much :math:`M_R` changes it;
* ``toward_blurry``: :math:`\overline{|x - B|} - \overline{|M_R(x) - B|}`, how much closer to :math:`B` (in mean
  absolute difference) it becomes; positive when :math:`M_R` reblurs toward the input;
* ``toward_blurry_db``: :math:`\mathrm{PSNR}(M_R(x), B) - \mathrm{PSNR}(x, B)`, the same in dB.

Means are over channels and pixels; images are ``(N, C, H, W)`` in [0, 1] (the reblurred image is not clamped).
A module that has learned the premise gives ``toward_blurry`` of the deblurred image several times that of the
sharp one; an identity-like module gives both near 0.
"""

from __future__ import annotations

import torch
from torch import nn


def _mean_abs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().flatten(1).mean(dim=1)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mse = (a - b).square().flatten(1).mean(dim=1).clamp_min(1e-12)
    return -10 * torch.log10(mse)


@torch.no_grad()
def reblur_response(reblur_net: nn.Module, image: torch.Tensor, blurry: torch.Tensor) -> dict[str, torch.Tensor]:
    """``move``, ``toward_blurry`` and ``toward_blurry_db`` of ``image`` (see the module docstring), each ``(N,)``.

    >>> identity = nn.Identity()
    >>> x, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    >>> {k: v.tolist() for k, v in reblur_response(identity, x, b).items()}
    {'move': [0.0, 0.0], 'toward_blurry': [0.0, 0.0], 'toward_blurry_db': [0.0, 0.0]}
    >>> halfway = lambda image: (image + b) / 2  # moves x half the way to b
    >>> reblur_response(halfway, x, b)["toward_blurry"].tolist()
    [0.25, 0.25]
    """
    reblurred = reblur_net(image)
    return {
        "move": _mean_abs(reblurred, image),
        "toward_blurry": _mean_abs(image, blurry) - _mean_abs(reblurred, blurry),
        "toward_blurry_db": _psnr(reblurred, blurry) - _psnr(image, blurry),
    }
