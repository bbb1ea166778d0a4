r"""Estimate the standard deviation of additive white Gaussian noise from a single image.

The 3x3 operator of Immerkær ("Fast Noise Variance Estimation", CVIU 64(2), 1996),

.. math::
    N = \begin{pmatrix} 1 & -2 & 1 \\ -2 & 4 & -2 \\ 1 & -2 & 1 \end{pmatrix},

annihilates locally linear image structure, and for i.i.d. Gaussian noise of standard deviation
:math:`\sigma` its response is Gaussian with standard deviation :math:`\|N\|_2 \sigma = 6\sigma`.
Instead of Immerkær's mean absolute response we take the median absolute response, the robust
scale estimate of Donoho and Johnstone (Biometrika 81(3), 1994), so that edges and texture,
which occupy a minority of pixels, barely move the estimate:

.. math::
    \hat\sigma = \frac{\mathrm{median}\,|N \star y|}{0.6745 \cdot 6}.

Texture still inflates the estimate at low noise levels (``tests/selfdeblur/test_noise_level.py`` states
the tolerance); blurry images, being smooth, are estimated better.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_OPERATOR = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
_MEDIAN_ABS_OF_UNIT_GAUSSIAN = 0.6744897501960817


def estimate_noise_sigma(image: torch.Tensor) -> torch.Tensor:
    """Noise standard deviation of each ``(H, W)`` plane of ``image`` (``(..., H, W)``, H, W >= 3).

    Returns a tensor of shape ``image.shape[:-2]`` in the units of ``image``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> noisy = 0.5 + 0.05 * torch.randn(256, 256, generator=g)
        >>> round(float(estimate_noise_sigma(noisy)), 2)
        0.05
    """
    h, w = image.shape[-2:]
    if h < 3 or w < 3:
        raise ValueError(f"noise estimation needs an image of at least 3x3 pixels, got {h}x{w}")
    planes = image.reshape(-1, 1, h, w)
    weight = _OPERATOR.to(planes.device, planes.dtype).reshape(1, 1, 3, 3)
    response = F.conv2d(planes, weight).abs().flatten(1)
    sigma = response.median(dim=1).values / (_MEDIAN_ABS_OF_UNIT_GAUSSIAN * 6)
    return sigma.reshape(image.shape[:-2])
