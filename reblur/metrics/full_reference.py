r"""Full-reference image metrics, one value per image: PSNR and SSIM.

Images are ``(N, C, H, W)`` tensors with values in ``[0, data_range]`` (``data_range=1`` for the
[0, 1] convention of this framework). Every function returns a ``(N,)`` tensor (one value per
image); datasets are summarised by the **mean of per-image values**, as deblurring papers do, never
by pooling the squared errors of all images.
"""

from __future__ import annotations

import torch

from selfdeblur.losses import ssim_map


def psnr(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    r"""Peak signal-to-noise ratio per image, :math:`10 \log_{10}(R^2 / \mathrm{MSE})` dB.

    :math:`R` is ``data_range``; the MSE is taken over all channels and pixels of an image.
    Identical images give ``inf`` (not capped).

    >>> x = torch.zeros(2, 3, 4, 4)
    >>> psnr(x + 0.1, x)
    tensor([20., 20.])
    """
    _check_pair(prediction, target)
    mse = (prediction.double() - target.double()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(data_range**2 / mse)).to(prediction.dtype)


def ssim(
    prediction: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    r"""SSIM per image (Wang et al. 2004), per channel with a 2-D Gaussian window, averaged over channels.

    The convention of scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=R, channel_axis=...)``, which Nah et al.'s evaluation
    uses: an 11x11 Gaussian window (:math:`\sigma = 1.5`, truncated at 3.5 sigma), population
    (co)variances, :math:`C_1 = (k_1 R)^2`, :math:`C_2 = (k_2 R)^2`, and the SSIM map averaged over
    the pixels whose window lies inside the image (scikit-image filters with reflection and then
    crops the 5-pixel border, which is the same thing). Computed in float64.
    """
    _check_pair(prediction, target)
    if min(prediction.shape[-2:]) < window_size:
        raise ValueError(
            f"SSIM needs images of at least {window_size}x{window_size}, got {tuple(prediction.shape[-2:])}"
        )
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    values = ssim_map(prediction.double(), target.double(), window_size, sigma, c1, c2, padding=0)
    return values.flatten(1).mean(1).to(prediction.dtype)


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(
            f"metrics need two (N, C, H, W) batches of the same shape, got {tuple(prediction.shape)} "
            f"and {tuple(target.shape)}"
        )
