r"""How much NIQE depends on the way exact zeros of the MSCN coefficients are counted (images with flat regions).

Usage::

    python -m benchmarks.niqe_flat_regions [--lai DIR] [--quick]

Prints one JSON object: for every image (synthetic images with large flat regions, ``data/niqe/baboon.png``
and, with ``--lai``, the 25 sharp images of Lai et al., ``DIR/<category>_<nn>.png``) and both colour
conventions (``"y"``, ``"gray"``), the NIQE of :func:`reblur.metrics.niqe.niqe` (``ours``) and of the NumPy
reference below under each variant, the fractions of exactly-zero MSCN coefficients at both scales (ours and
the reference's), and per category the largest ``|variant - ours|`` (``max_abs_difference_to_ours``) and
``|variant - i_exact|`` (``max_abs_difference_to_i_exact``). ``--quick`` runs two small synthetic images only (a
smoke test). Results, with the run's time: docs/results/niqe_flat_regions.md.

**The reference** (:func:`reference_niqe`) is a float64 NumPy transcription of the NIQE authors' MATLAB
release (``computequality.m``, ``computefeature.m``, ``estimateaggdparam.m``), written from that code, not from
:mod:`reblur.metrics.niqe`; only the pristine model (:func:`~reblur.metrics.niqe.pristine_model`) and
MATLAB's ``imresize`` (:func:`~reblur.metrics.niqe.matlab_imresize`) are borrowed:

* ``im = double(rgb2gray(im))`` (or BasicSR's studio-range Y), cut to whole 96x96 blocks from the top-left;
* at each of two scales, ``mu = imfilter(im, window, 'replicate')``,
  ``sigma = sqrt(abs(imfilter(im.*im, window, 'replicate') - mu.*mu))``, ``structdis = (im - mu)./(sigma + 1)``;
* ``blkproc`` over 96x96 (then 48x48) blocks in column-major block order, 18 features per block
  (``computefeature``: AGGD fits of ``structdis(:)`` and of its products with ``circshift`` by
  ``[0 1; 1 0; 1 1; 1 -1]``), then ``im = imresize(im, 0.5)`` on the gray levels themselves;
* ``estimateaggdparam``: ``leftstd = sqrt(mean(vec(vec<0).^2))``, ``rightstd = sqrt(mean(vec(vec>0).^2))``,
  ``rhat = mean(abs(vec))^2/mean(vec.^2)`` (exact zeros count in ``rhat`` but on neither side),
  ``[~, i] = min((r_gam - rhatnorm).^2)`` over ``gam = 0.2:0.001:10``;
* ``nanmean`` and ``nancov`` (complete rows) of the block features, ``pinv`` with MATLAB's tolerance.

**Filtering.** MATLAB's ``imfilter`` filters a rank-1 kernel of at least 7x7 on a ``double`` image as two 1-D
passes (rows, then columns), so in a flat 7x7 neighbourhood ``mu`` is the gray level and ``structdis`` is 0.
That is only as exact as the arithmetic: a plain weighted sum ``sum_k t_k v`` returns ``v`` bit for bit only
when the rounding errors happen to cancel, which depends on the level ``v`` and on the last bits of the 1-D
taps (with the row sums of the model window and left-to-right summation it fails for 90 of the 256 gray
levels, 235 and 255, saturated white in Y and in gray, among them). The reference's ``"exact"`` filtering
(the default) therefore accumulates each pass relative to the centre pixel,
``c + sum_k t_k (x_k - c)``, which is the same weighted mean (the taps sum to 1) and gives ``mu = v`` exactly
wherever the 7x7 neighbourhood is flat, for every level: the behaviour the MATLAB reference is credited with.
Evidence that MATLAB's own arithmetic gives these zeros: ``baboon.png`` has 13 coefficients in flat
neighbourhoods (Y level 98); MATLAB's published 5.72957338 is within 5e-7 of counting them as exact zeros
(5.7295739), while a 2-D pass (5.72996), the plain SVD-factor passes (5.72971) or counting them on a side
(5.7282, 5.7316) are 1e-4 to 2e-3 away. Coefficients that are 0 only in exact arithmetic, outside flat
neighbourhoods (point-symmetric patches such as 193 and 195 around 194), keep a rounding residue of either
sign in every implementation; no transcription can promise MATLAB's signs for those.

**Variants** (:data:`VARIANTS`; every one changes one thing of the reference, whose undefined-fit rule is NaN,
the block's shape features left out (this project's rule before issue 14), so that the differences isolate the
zero counting; ``ours`` now follows ``matlab``):

* ``i_exact``: exact zeros in flat neighbourhoods, counted on neither side: ``ours`` but for undefined fits;
* ``ii_2d``: one 2-D 7x7 pass (49 products, summed in order): flat neighbourhoods leave residues of about
  1e-15 to 1e-13 whose sign depends on the level, counted on that side;
* ``iii_left`` / ``iv_right``: exact zeros counted on the left (``vec <= 0``) / right (``vec >= 0``) side;
* ``v_2d_threshold``: the 2-D pass, then ``|structdis| < 1e-12`` set to 0;
* ``vi_separable_plain``: two plain 1-D passes with MATLAB's SVD factors of the window (``imfilter``'s
  ``hrow``/``hcol``), summed left to right: one guess at MATLAB's literal arithmetic;
* ``matlab``: ``i_exact`` with MATLAB's result for undefined fits: a block whose ``rhatnorm`` is NaN (no
  negative or no positive value, e.g. a wholly flat block) gets ``alpha = gam(1) = 0.2`` (``min`` of an
  all-NaN vector returns index 1; BasicSR's ``np.argmin`` returns 0 alike), and ``nanmean`` then averages that
  0.2 in, where the NaN rule leaves the block's shape features out. This is the full MATLAB reference.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import gamma as gamma_fn

from benchmarks.common import cpu_name
from deblur_core.conventions import NIQE_COLORS
from reblur.metrics.niqe import gray_levels, matlab_imresize, mscn_scales, niqe, pristine_model

BLOCK = 96
THRESHOLD = 1e-12
LAI_CATEGORIES = ("saturated", "text", "manmade", "natural", "people")
REPO = Path(__file__).resolve().parents[1]
BABOON = REPO / "data" / "niqe" / "baboon.png"

# MATLAB's 0.2:0.001:10 (9801 shapes) and r_gam = gamma(2./gam).^2./(gamma(1./gam).*gamma(3./gam)).
GAMMA_GRID = 0.2 + 0.001 * np.arange(9801)
R_GAMMA = gamma_fn(2 / GAMMA_GRID) ** 2 / (gamma_fn(1 / GAMMA_GRID) * gamma_fn(3 / GAMMA_GRID))

REFERENCE: dict[str, object] = {"filtering": "exact", "zeros": "neither", "undefined": "nan", "threshold": 0.0}
VARIANTS: dict[str, dict[str, object]] = {
    "i_exact": {},
    "ii_2d": {"filtering": "2d"},
    "iii_left": {"zeros": "left"},
    "iv_right": {"zeros": "right"},
    "v_2d_threshold": {"filtering": "2d", "threshold": THRESHOLD},
    "vi_separable_plain": {"filtering": "separable"},
    "matlab": {"undefined": "matlab"},
}


# --------------------------------------------------------------------------------------------------------------
# Gray levels (computequality.m: rgb2gray of a uint8 image; or BasicSR's Y)


def reference_gray(rgb: np.ndarray, color: str) -> np.ndarray:
    """``(H, W, 3)`` or ``(H, W)`` uint8 -> ``(H, W)`` float64 integer gray levels, as MATLAB on ``uint8`` images.

    ``"gray"``: ``rgb2gray``, the first row of the inverse of ``rgb2ntsc``'s matrix; ``"y"``: ``rgb2ycbcr``'s
    luma, whose ``uint8`` path scales its matrix by ``1/255`` and adds 16. Both round halves away from zero
    (the levels are positive: ``floor(x + 0.5)``). A Y value can be an exact half in exact arithmetic
    (``(65481 R + 128553 G + 24966 B) mod 255000 = 127500``, one colour in about 85,000); its rounding then
    depends on the last bit of the floating-point sum, here as in MATLAB.
    """
    if rgb.ndim == 2:
        return rgb.astype(np.float64)
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    if color == "gray":
        ntsc = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])
        wr, wg, wb = np.linalg.inv(ntsc)[0]
        value = wr * r + wg * g + wb * b
    elif color == "y":
        wr, wg, wb = (1 / 255) * np.array([65.481, 128.553, 24.966])
        value = wr * r + wg * g + wb * b + 16
    else:
        raise ValueError(f"color must be 'y' or 'gray', got {color!r}")
    return np.floor(value + 0.5)


def exact_ties(rgb: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: the pixels of ``(H, W, 3)`` uint8 whose exact Y is a half (see :func:`reference_gray`)."""
    r, g, b = (rgb[..., c].astype(np.int64) for c in range(3))
    return (65481 * r + 128553 * g + 24966 * b) % 255000 == 127500


# --------------------------------------------------------------------------------------------------------------
# MSCN coefficients


def window_factors(window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``imfilter``'s 1-D factors ``(hcol, hrow)`` (7,) of the rank-1 7x7 ``window``: its SVD."""
    u, s, vt = np.linalg.svd(window)
    return u[:, 0] * math.sqrt(s[0]), vt[0] * math.sqrt(s[0])


def _pass(padded: np.ndarray, taps: np.ndarray, axis: int, exact: bool) -> np.ndarray:
    """One 7-tap correlation along ``axis`` of an array padded by 3 on that axis ('valid' output)."""
    length = padded.shape[axis] - len(taps) + 1
    views = [np.take(padded, np.arange(k, k + length), axis=axis) for k in range(len(taps))]
    if exact:
        # c + sum t_k (x_k - c): every difference is 0 in a flat run, so the result is c bit for bit.
        centre = views[len(taps) // 2]
        out = centre.copy()
        for tap, view in zip(taps, views):
            out += tap * (view - centre)
        return out
    out = np.zeros_like(views[0])
    for tap, view in zip(taps, views):
        out += tap * view
    return out


def local_mean(image: np.ndarray, window: np.ndarray, filtering: str) -> np.ndarray:
    """``imfilter(image, window, 'replicate')`` of ``(H, W)`` float64 with the 7x7 ``window``.

    ``filtering``: ``"exact"`` (separable, centre-relative: exact in flat neighbourhoods), ``"separable"``
    (two plain passes with the SVD factors, rows then columns as ``imfilter``) or ``"2d"`` (49 products).
    """
    pad = window.shape[0] // 2
    padded = np.pad(image, pad, mode="edge")
    if filtering == "2d":
        height, width = image.shape
        out = np.zeros_like(image)
        for i in range(window.shape[0]):
            for j in range(window.shape[1]):
                out += window[i, j] * padded[i : i + height, j : j + width]
        return out
    if filtering not in ("exact", "separable"):
        raise ValueError(f"unknown filtering {filtering!r}")
    hcol, hrow = window_factors(window)
    if filtering == "exact":
        # The centre-relative sums need taps that add up to 1; the SVD factors carry a sign and sqrt(s) each.
        hcol, hrow = np.abs(hcol) / np.abs(hcol).sum(), np.abs(hrow) / np.abs(hrow).sum()
    exact = filtering == "exact"
    rows = _pass(padded, hrow, axis=1, exact=exact)  # imfilter applies hrow first
    return _pass(rows, hcol, axis=0, exact=exact)


def reference_mscn(
    image: np.ndarray, window: np.ndarray, filtering: str = "exact", threshold: float = 0.0
) -> np.ndarray:
    """``structdis = (im - mu)./(sigma + 1)`` of ``(H, W)`` float64 -> ``(H, W)``; ``|structdis| < threshold`` -> 0."""
    mu = local_mean(image, window, filtering)
    sigma = np.sqrt(np.abs(local_mean(image * image, window, filtering) - mu * mu))
    mscn = (image - mu) / (sigma + 1)
    if threshold > 0:
        mscn[np.abs(mscn) < threshold] = 0.0
    return mscn


# --------------------------------------------------------------------------------------------------------------
# Features (computefeature.m, estimateaggdparam.m)


def _root_mean_square(values: np.ndarray) -> float:
    """``sqrt(mean(values.^2))``; NaN for an empty vector, as MATLAB's ``mean([])``."""
    return math.sqrt(float(np.sum(values * values)) / values.size) if values.size else math.nan


def aggd_parameters(vec: np.ndarray, zeros: str = "neither", undefined: str = "nan") -> tuple[float, float, float]:
    """``estimateaggdparam(vec)`` of a 1-D float64 vector -> ``(alpha, betal, betar)``.

    ``zeros``: exact zeros count on ``"neither"`` side (MATLAB), the ``"left"`` or the ``"right"`` one.
    ``undefined``: when ``rhatnorm`` is NaN (a side is empty), ``"matlab"`` takes ``alpha = gam(1) = 0.2`` as
    ``min`` of an all-NaN vector does; ``"nan"`` returns ``alpha = NaN`` (this project's rule before issue 14).
    """
    left = vec[vec <= 0] if zeros == "left" else vec[vec < 0]
    right = vec[vec >= 0] if zeros == "right" else vec[vec > 0]
    left_std, right_std = _root_mean_square(left), _root_mean_square(right)
    with np.errstate(invalid="ignore", divide="ignore"):
        gamma_hat = np.float64(left_std) / np.float64(right_std)
        r_hat = np.mean(np.abs(vec)) ** 2 / np.mean(vec * vec)
        r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    if not np.isfinite(r_hat_norm) and undefined == "nan":
        return math.nan, math.nan, math.nan
    # np.argmin, like MATLAB's min, returns the first index when every difference is NaN.
    alpha = float(GAMMA_GRID[np.argmin((R_GAMMA - r_hat_norm) ** 2)])
    scale = math.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
    return alpha, left_std * scale, right_std * scale


SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # circshift offsets [rows, columns]: right, down, down-right, down-left


def reference_block_features(block: np.ndarray, zeros: str = "neither", undefined: str = "nan") -> np.ndarray:
    """``computefeature(structdis)`` of one ``(h, w)`` MSCN block -> (18,)."""
    vec = block.ravel(order="F")  # structdis(:)
    alpha, left, right = aggd_parameters(vec, zeros, undefined)
    features = [alpha, (left + right) / 2]
    for shift in SHIFTS:
        pair = vec * np.roll(block, shift, axis=(0, 1)).ravel(order="F")
        alpha, left, right = aggd_parameters(pair, zeros, undefined)
        mean = (right - left) * (gamma_fn(2 / alpha) / gamma_fn(1 / alpha))
        features += [alpha, mean, left, right]
    return np.array(features)


def mscn_pyramid(gray: np.ndarray, filtering: str = "exact", threshold: float = 0.0) -> list[np.ndarray]:
    """MSCN coefficients ``[(H, W), (H/2, W/2)]`` of the two scales of ``(H, W)`` gray levels (cut to 96 blocks)."""
    window = pristine_model()["window"].numpy()
    rows, cols = gray.shape[0] // BLOCK, gray.shape[1] // BLOCK
    image = gray[: rows * BLOCK, : cols * BLOCK].astype(np.float64)
    scales = []
    for scale in (1, 2):
        if scale == 2:
            image = matlab_imresize(torch.from_numpy(image), 0.5).numpy()  # imresize(im, 0.5) on the levels
        scales.append(reference_mscn(image, window, filtering, threshold))
    return scales


def reference_features(pyramid: list[np.ndarray], zeros: str = "neither", undefined: str = "nan") -> np.ndarray:
    """Block features ``(blocks, 36)`` of an :func:`mscn_pyramid`, blocks in MATLAB's column-major order."""
    per_scale = []
    for scale, mscn in enumerate(pyramid, start=1):
        size = BLOCK // scale
        rows, cols = mscn.shape[0] // size, mscn.shape[1] // size
        blocks = [mscn[i * size : (i + 1) * size, j * size : (j + 1) * size] for j in range(cols) for i in range(rows)]
        per_scale.append(np.stack([reference_block_features(b, zeros, undefined) for b in blocks]))
    return np.concatenate(per_scale, axis=1)


def niqe_from_features(features: np.ndarray) -> float:
    """NIQE distance of ``(blocks, 36)`` features to the pristine model (``nanmean``, ``nancov``, ``pinv``)."""
    model = pristine_model()
    mu_pristine, cov_pristine = model["mu"].numpy(), model["cov"].numpy()
    mu = np.nanmean(features, axis=0)
    complete = features[np.isfinite(features).all(axis=1)]
    if len(complete) == 0:
        return math.nan
    cov = np.cov(complete, rowvar=False) if len(complete) > 1 else np.zeros_like(cov_pristine)
    matrix = (cov_pristine + cov) / 2
    # MATLAB's pinv tolerance: max(size(A)) * norm(A) * eps (numpy's default rcond would be 1e-15).
    inverse = np.linalg.pinv(matrix, rcond=max(matrix.shape) * np.finfo(np.float64).eps)
    difference = mu_pristine - mu
    return float(np.sqrt(difference @ inverse @ difference))


def reference_niqe(gray: np.ndarray, **variant: object) -> float:
    """NIQE of ``(H, W)`` gray levels under :data:`REFERENCE` updated by ``variant``."""
    options = {**REFERENCE, **variant}
    pyramid = mscn_pyramid(gray, str(options["filtering"]), float(options["threshold"]))  # type: ignore[arg-type]
    return niqe_from_features(reference_features(pyramid, str(options["zeros"]), str(options["undefined"])))


# --------------------------------------------------------------------------------------------------------------
# Images


def smooth_texture(height: int, width: int, seed: int, low: float = 40, high: float = 215) -> np.ndarray:
    """``(H, W)`` float64 texture in [low, high]: white noise blurred at two scales (natural-looking statistics)."""
    rng = np.random.default_rng(seed)

    def blur(x: np.ndarray, radius: int) -> np.ndarray:
        kernel = np.exp(-0.5 * (np.arange(-3 * radius, 3 * radius + 1) / radius) ** 2)
        kernel /= kernel.sum()
        x = np.apply_along_axis(np.convolve, 0, x, kernel, mode="same")
        return np.apply_along_axis(np.convolve, 1, x, kernel, mode="same")

    noise = blur(rng.standard_normal((height, width)), 2) + 0.5 * blur(rng.standard_normal((height, width)), 8)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return low + (high - low) * noise


def flat_region_image(size: int = 192, level: int = 255, flat: int = 72, seed: int = 0) -> np.ndarray:
    """``(size, size, 3)`` uint8 gray-ish RGB: a texture with a flat ``flat x flat`` square of RGB ``level`` in
    every 96x96 block (``(flat/96)^2`` of the pixels), so every block keeps texture and its fits stay defined."""
    image = smooth_texture(size, size, seed)
    inside = (np.arange(size) % BLOCK) < flat
    image[np.ix_(inside, inside)] = level
    return np.repeat(np.round(image).astype(np.uint8)[..., None], 3, axis=2)


def saturated_image(size: int = 384, seed: int = 1) -> np.ndarray:
    """``(size, size, 3)`` uint8: an over-exposed colour texture, lit from the top, whose top clips to white
    (the first row of 96x96 blocks wholly white when ``size >= 384``) and whose bottom half clips to black in
    patches."""
    base = smooth_texture(size, size, seed)
    chroma = [smooth_texture(size, size, seed + 10 + c, -15, 15) for c in range(3)]
    light = 300 * np.linspace(1.7, -0.4, size)[:, None] - 100
    return np.stack([np.clip(np.round(base + c + light), 0, 255) for c in chroma], axis=-1).astype(np.uint8)


def text_image(size: int = 384, rectangles: bool = False, seed: int = 2) -> np.ndarray:
    """``(size, size, 3)`` uint8: black glyphs on flat white paper, lines in the top 70% only, so that the last
    row of 96x96 blocks is blank paper (wholly flat blocks, whose fits are undefined) when ``size >= 384``.

    ``rectangles``: glyph strokes drawn as rectangles (the same on every machine); otherwise lines of text in
    PIL's default font (antialiased edges; the glyphs depend on the Pillow version).
    """
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    rng = np.random.default_rng(seed)
    margin, line, bottom = size // 12, 14, int(0.7 * size)
    if rectangles:
        for top in range(margin, bottom - line, line + 6):
            x = margin
            while x < size - margin - 10:
                width = int(rng.integers(4, 10))
                # a glyph: one or two vertical strokes and a bar, 2 px thick
                draw.rectangle([x, top, x + 1, top + line - 1], fill=(0, 0, 0))
                if rng.random() < 0.6:
                    draw.rectangle([x + width - 1, top + 3, x + width, top + line - 1], fill=(0, 0, 0))
                    bar = top + 3 + int(rng.integers(0, line - 5))
                    draw.rectangle([x, bar, x + width, bar + 1], fill=(0, 0, 0))
                x += width + int(rng.integers(3, 8)) + (int(rng.integers(0, 3)) == 0) * 8
    else:
        font = ImageFont.load_default()
        words = [
            "flat",
            "regions",
            "zeros",
            "matlab",
            "niqe",
            "blocks",
            "gaussian",
            "window",
            "deblurring",
            "saturated",
            "text",
        ]
        for top in range(margin, bottom - line, line + 4):
            text = " ".join(rng.choice(words, size=12))
            draw.text((margin, top), text, fill=(0, 0, 0), font=font)
    return np.asarray(page, dtype=np.uint8).copy()


def synthetic_images(quick: bool = False) -> dict[str, np.ndarray]:
    """The synthetic images of the study, ``name -> (H, W, 3) uint8``."""
    if quick:
        return {"flat_white_192": flat_region_image(192, 255), "text_rect_192": text_image(192, rectangles=True)}
    return {
        "flat_white_288": flat_region_image(288, 255, flat=80),
        "flat_black_288": flat_region_image(288, 0, flat=80),
        "flat_gray128_288": flat_region_image(288, 128, flat=80),
        "saturated_384": saturated_image(384),
        "text_rect_384": text_image(384, rectangles=True),
        "text_font_384": text_image(384),
    }


def read_uint8(path: Path) -> np.ndarray:
    """An 8-bit image file -> ``(H, W, 3)`` or ``(H, W)`` uint8 (alpha dropped, as MATLAB's ``imread``)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L") if im.mode == "L" else im.convert("RGB"), dtype=np.uint8).copy()


# --------------------------------------------------------------------------------------------------------------
# The study


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` or ``(H, W)`` uint8 -> ``(1, C, H, W)`` float64 in [0, 1], as :func:`niqe` takes it."""
    array = pixels[..., None] if pixels.ndim == 2 else pixels
    return torch.from_numpy(array).permute(2, 0, 1)[None].double() / 255


def zero_fraction(mscn: np.ndarray | torch.Tensor) -> float:
    """Fraction of the coefficients of an MSCN map that are exactly 0."""
    return float((mscn == 0).sum() / mscn.size) if isinstance(mscn, np.ndarray) else (mscn == 0).double().mean().item()


def ours_mscn(pixels: np.ndarray, color: str) -> list[torch.Tensor]:
    """Our MSCN coefficients ``[(H, W), (H/2, W/2)]`` (cut to whole blocks), for the zero counts."""
    return [mscn[0] for mscn in mscn_scales(gray_levels(to_tensor(pixels), color=color))]


def study_image(name: str, category: str, pixels: np.ndarray, color: str) -> dict:
    """One row of the study: NIQE of ours and of every variant, differences, zero fractions.

    The variants start from our gray levels (:func:`~reblur.metrics.niqe.gray_levels`), so that they differ
    from ``ours`` by the feature path only; ``gray_levels_differing`` counts the pixels where MATLAB's
    conversion (:func:`reference_gray`) rounds the other way (exact Y ties) and ``tie_effect`` is what they
    change in the ``matlab`` variant.
    """
    tensor = to_tensor(pixels)
    gray = gray_levels(tensor, color=color)[0].numpy()
    ours = niqe(tensor, color=color).item()
    pyramids: dict[tuple[str, float], list[np.ndarray]] = {}
    values = {}
    for variant, change in VARIANTS.items():
        options = {**REFERENCE, **change}
        key = (str(options["filtering"]), float(options["threshold"]))  # type: ignore[arg-type]
        if key not in pyramids:
            pyramids[key] = mscn_pyramid(gray, *key)
        features = reference_features(pyramids[key], str(options["zeros"]), str(options["undefined"]))
        values[variant] = niqe_from_features(features)
        if variant == "i_exact":
            exact_features = features
    matlab_gray = reference_gray(pixels, color)
    differing = int((matlab_gray != gray).sum())
    tie_effect = reference_niqe(matlab_gray, undefined="matlab") - values["matlab"] if differing else 0.0
    exact = pyramids[("exact", 0.0)]
    # The reference's undefined-fit rule is NaN: a block's first-scale features are NaN where its fits are.
    undefined_blocks = int(np.isnan(exact_features[:, :18]).any(axis=1).sum())
    return {
        "image": name,
        "category": category,
        "color": color,
        "size": list(pixels.shape[:2]),
        "blocks": exact[0].shape[0] // BLOCK * (exact[0].shape[1] // BLOCK),
        "blocks_undefined": undefined_blocks,
        "zero_fraction_ours": [zero_fraction(m) for m in ours_mscn(pixels, color)],
        "zero_fraction_exact": [zero_fraction(m) for m in exact],
        "gray_levels_differing": differing,
        "tie_effect": tie_effect,
        "ours": ours,
        **values,
        "difference_to_ours": {variant: value - ours for variant, value in values.items()},
    }


def summarise(rows: list[dict], baseline: str = "ours") -> dict[str, dict[str, float]]:
    """``category -> variant -> max |variant - baseline|`` over images and colour conventions."""
    summary: dict[str, dict[str, float]] = {}
    for row in rows:
        per_variant = summary.setdefault(row["category"], {})
        for variant in ("ours", *VARIANTS):
            if variant == baseline:
                continue
            difference = row[variant] - row[baseline]
            magnitude = abs(difference) if math.isfinite(difference) else math.inf
            per_variant[variant] = max(per_variant.get(variant, 0.0), magnitude)
    return summary


def images_to_study(lai: Path | None, quick: bool) -> list[tuple[str, str, Callable[[], np.ndarray]]]:
    """``(name, category, loader)`` of every image of the study."""
    images: list[tuple[str, str, Callable[[], np.ndarray]]] = [
        (name, "synthetic", functools.partial(np.asarray, pixels)) for name, pixels in synthetic_images(quick).items()
    ]
    if quick:
        return images
    images.append(("baboon", "baboon", lambda: read_uint8(BABOON)))
    if lai is not None:
        for category in LAI_CATEGORIES:
            for path in sorted(lai.glob(f"{category}_*.png")):
                images.append((path.stem, category, functools.partial(read_uint8, path)))
    return images


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lai", type=Path, metavar="DIR", help="Lai et al.'s ground_truth folder (sharp images)")
    parser.add_argument("--quick", action="store_true", help="two small synthetic images only")
    args = parser.parse_args(argv)
    if args.lai is not None and not args.lai.is_dir():
        parser.error(f"--lai: no such folder: {args.lai}")
    rows: list[dict[str, Any]] = []
    for name, category, load in images_to_study(args.lai, args.quick):
        pixels = load()
        rows.extend(study_image(name, category, pixels, color) for color in NIQE_COLORS)
    result = {
        "benchmark": "NIQE: sensitivity to the counting of exact zeros of the MSCN coefficients",
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "variants": {name: {**REFERENCE, **change} for name, change in VARIANTS.items()},
        "max_abs_difference_to_ours": summarise(rows),
        "max_abs_difference_to_i_exact": summarise(rows, "i_exact"),
        "images": rows,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
