r"""Full-reference image metrics, one value per image: PSNR and SSIM, in the conventions papers use.

Images are ``(N, C, H, W)`` tensors with values in ``[0, data_range]`` (``data_range=1`` for the
[0, 1] convention of this framework). Every function returns a ``(N,)`` tensor (one value per
image); datasets are summarised by the **mean of per-image values**, as deblurring papers do, never
by pooling the squared errors of all images.

Two options say what is compared (docs/conventions.md):

- ``crop_border=b`` drops ``b`` pixels on every side of both images before measuring (BasicSR's option);
- ``color`` names the colour convention (:func:`deblur_core.color.to_luma`): ``"rgb"`` (every channel,
  the default), ``"y"`` (the studio-range BT.601 luma of MATLAB's ``rgb2ycbcr``: BasicSR's "PSNR-Y") or
  ``"gray"`` (MATLAB's ``rgb2gray``); the luma is not rounded and stays in the input's range.

Two SSIM conventions exist in deblurring tables (docs/conventions.md says which tables use which):

- ``convention="gaussian"`` (default): per channel, 2-D Gaussian window, 'valid' filtering, mean
  over channels: scikit-image's ``structural_similarity(gaussian_weights=True,
  use_sample_covariance=False)``, as Nah et al.'s evaluation, and BasicSR's 2-D ``calculate_ssim``;
- ``convention="matlab"``: MATLAB's ``ssim(A, ref)``, which treats an RGB image as a 3-D volume:
  one 11x11x11 Gaussian window (:math:`\sigma = 1.5`) across rows, columns *and* channels,
  'replicate' padding on all three axes, SSIM map averaged over every voxel (the convention of
  MATLAB-evaluated GOPRO tables, reproduced by NAFNet's ``ssim3d``). For one-channel images it is
  MATLAB's 2-D ``ssim`` (replicate padding, no border dropped).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deblur_core.color import to_luma
from deblur_core.ssim import ssim_from_moments, ssim_map

SSIM_CONVENTIONS = ("gaussian", "matlab")


def prepare_pair(
    prediction: torch.Tensor, target: torch.Tensor, crop_border: int = 0, color: str = "rgb", data_range: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checks the pair, then crops ``crop_border`` pixels per side and applies the colour convention."""
    _check_pair(prediction, target)
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        height, width = prediction.shape[-2:]
        if min(height, width) <= 2 * crop_border:
            raise ValueError(f"crop_border={crop_border} leaves nothing of {height}x{width} images")
        prediction = prediction[..., crop_border:-crop_border, crop_border:-crop_border]
        target = target[..., crop_border:-crop_border, crop_border:-crop_border]
    return to_luma(prediction, color, data_range), to_luma(target, color, data_range)


def psnr(
    prediction: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    crop_border: int = 0,
    color: str = "rgb",
) -> torch.Tensor:
    r"""Peak signal-to-noise ratio per image, :math:`10 \log_{10}(R^2 / \mathrm{MSE})` dB.

    :math:`R` is ``data_range``; the MSE is taken over all channels and pixels of an image (after
    ``crop_border`` / ``color``, see the module docstring). Identical images give ``inf`` (not capped).

    >>> x = torch.zeros(2, 3, 4, 4)
    >>> psnr(x + 0.1, x)
    tensor([20., 20.])
    """
    prediction, target = prepare_pair(prediction, target, crop_border, color, data_range)
    mse = (prediction.double() - target.double()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(data_range**2 / mse)).to(prediction.dtype)


def ssim(
    prediction: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    convention: str = "gaussian",
    crop_border: int = 0,
    color: str = "rgb",
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    r"""SSIM per image (Wang et al. 2004) in the ``"gaussian"`` or ``"matlab"`` convention (module docstring).

    Both use the 11x11 Gaussian window (:math:`\sigma = 1.5`), population (co)variances and
    :math:`C_1 = (k_1 R)^2`, :math:`C_2 = (k_2 R)^2`; computed in float64.

    - ``"gaussian"``: per channel, averaged over the pixels whose window lies inside the image
      (scikit-image filters with reflection and crops the 5-pixel border, which is the same thing),
      then over channels.
    - ``"matlab"``: the 3-D window over (channel, row, column) with replicate padding, averaged
      over all voxels.
    """
    if convention not in SSIM_CONVENTIONS:
        raise ValueError(f"SSIM convention must be one of {SSIM_CONVENTIONS}, got {convention!r}")
    prediction, target = prepare_pair(prediction, target, crop_border, color, data_range)
    if convention == "gaussian" and min(prediction.shape[-2:]) < window_size:
        raise ValueError(
            f"SSIM needs images of at least {window_size}x{window_size}, got {tuple(prediction.shape[-2:])}"
        )
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    x, y = prediction.double(), target.double()
    if convention == "gaussian":
        values = ssim_map(x, y, window_size, sigma, c1, c2, padding=0)
    else:
        values = _volume_ssim_map(x, y, window_size, sigma, c1, c2)
    return values.flatten(1).mean(1).to(prediction.dtype)


def _volume_ssim_map(
    x: torch.Tensor, y: torch.Tensor, window_size: int, sigma: float, c1: float, c2: float
) -> torch.Tensor:
    """SSIM map of ``(N, C, H, W)`` images taken as ``C x H x W`` volumes, 3-D Gaussian, replicate padding."""
    coords = torch.arange(window_size, dtype=torch.float64, device=x.device) - (window_size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    n = x.shape[0]
    pad = window_size // 2
    # The five local statistics of all images in one batch of volumes; the 3-D Gaussian is separable, so
    # padding the volume once and filtering each axis 'valid' equals the full 3-D filter on the padded volume.
    stack = torch.cat([x, y, x * x, y * y, x * y])[:, None]  # (5N, 1, C, H, W)
    filtered = F.pad(stack, (pad,) * 6, mode="replicate")
    for shape in ((-1, 1, 1), (1, -1, 1), (1, 1, -1)):
        filtered = F.conv3d(filtered, g.view(1, 1, *shape))
    mu_x, mu_y, xx, yy, xy = filtered[:, 0].split(n)
    return ssim_from_moments(mu_x, mu_y, xx, yy, xy, c1, c2)


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(
            f"metrics need two (N, C, H, W) batches of the same shape, got {tuple(prediction.shape)} "
            f"and {tuple(target.shape)}"
        )
