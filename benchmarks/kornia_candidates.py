"""Where could ``kornia`` replace hand-written code? Equality to our reference and speed, candidate by candidate.

Usage::

    python -m benchmarks.kornia_candidates [--quick] [--repeats N] [--threads 2] [--seed 0]
                                           [--device cpu|cuda] [--cuda-float32 ieee|tf32]

Prints one JSON object. Every difference is a maximum absolute difference against our implementation (the
reference), every timing the median milliseconds of ``repeats`` calls after one warm-up call (the candidates of a
measurement take turns, so outside load hits them alike). ``--device cuda`` puts the measured tensors on the GPU
(timed between synchronisations; float32 convolutions as ``--cuda-float32`` says, SelfDeblur's IEEE by default);
the Dataset path of the augmentation always runs on the CPU, as in training. Results are in
docs/results/kornia.md.

1. ``color``: :mod:`deblur_core.color` against ``kornia.color``. ``rgb_to_ycbcr`` / ``ycbcr_to_rgb`` (ours: exact
   BT.601 constants 1/1.772, 1/1.402; kornia: 0.564, 0.713 and clamps to [0, 1]), their round trips, and
   ``rgb_to_gray`` (MATLAB ``rgb2gray``) against ``rgb_to_grayscale`` with its default BT.601 weights and with our
   weights passed as ``rgb_weights``. ``rounded_levels_differing`` counts the 8-bit colours (all 2**24 of them,
   a sample of 2**20 with ``--quick``) whose rounded gray level changes, as NIQE's ``color="gray"`` rounds it.
   ``rgb_to_y`` (studio range) has no kornia counterpart: ``kornia.color.rgb_to_y`` is full-range luma.
2. ``filtering``: :func:`deblur_core.ssim.ssim_map` ('same' with zero padding: the SelfDeblur loss, forward and
   backward; 'valid': the evaluation SSIM, float64) against kornia's ``filter2d`` / ``filter2d_separable`` /
   ``gaussian_blur2d`` with ``border_type="constant"`` plugged into the same formula, and against
   ``kornia.metrics.ssim`` (reflect padding for 'same'; ``eps=0``); :func:`deblur_core.blur.correlate_valid`
   against ``kornia.filters.filter2d(..., padding="valid")`` in both ``behaviour`` modes (forward and backward
   through image and filter); :func:`reblur.metrics.niqe._mscn` against ``filter2d_separable`` with replicate
   borders in float64, with the count of exact zeros of ``gray - mu`` on a frame with flat areas and the NIQE
   score with each.
3. ``augmentation``: the training path of :class:`reblur.data.PairedImageDataset` (random 256x256 crop of a
   720x1280 pair, one of the 8 square symmetries, channel shuffle, per item on the CPU, then collated) against
   ``kornia.augmentation.AugmentationSequential`` (``RandomCrop``, horizontal and vertical flips,
   ``RandomRotation90(times=(0, 1))``, ``RandomChannelShuffle``) with ``data_keys=["input", "input"]``:
   whether each output is exactly a symmetry of a crop of its input, whether blurry and sharp get the same
   transform, which symmetries and crop offsets are reached, reproducibility under ``seed_everything``, and
   milliseconds per batch of 16 pairs.

``--quick`` uses smaller images and fewer repeats (a few seconds; the fields are the same, the numbers are not
the benchmark's).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import itertools
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import kornia
import kornia.augmentation as KA
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from benchmarks.common import cpu_name, synchronize
from benchmarks.niqe_speed import natural_frame
from deblur_core import color
from deblur_core.blur import correlate_valid
from deblur_core.ssim import gaussian_window, ssim_from_local_means, ssim_map
from reblur.data.paired_dataset import PairedImageDataset, TensorPair

# The module, not the function that reblur.metrics re-exports under the same name.
niqe_module: Any = importlib.import_module("reblur.metrics.niqe")

BATCH = 16
CROP = 256

# Where every measured tensor lives (--device); the Dataset path itself always runs on the CPU.
DEVICE = torch.device("cpu")


def on(t: torch.Tensor) -> torch.Tensor:
    return t.to(DEVICE)


# Sizes of the full benchmark and of --quick.
SIZES: dict[bool, dict[str, Any]] = {
    False: {
        "frame": (1, 3, 720, 1280),
        "batch": (16, 3, 256, 256),
        "ssim_same": (1, 1, 256, 256),
        "ssim_valid": (1, 3, 256, 256),
        "blur_output": (1, 1, 255, 255),
        "mscn": (1, 3, 720, 1280),
        "niqe": (1, 3, 384, 576),
        "augment_frame": (720, 1280),
        "augment_crop": CROP,
        "gray_levels": 2**24,
        "symmetry_draws": 4000,
        "repeats": 15,
    },
    True: {
        "frame": (1, 3, 180, 320),
        "batch": (4, 3, 64, 64),
        "ssim_same": (1, 1, 64, 64),
        "ssim_valid": (1, 3, 64, 64),
        "blur_output": (1, 1, 63, 63),
        "mscn": (1, 3, 192, 288),
        "niqe": (1, 3, 192, 288),
        "augment_frame": (180, 320),
        "augment_crop": 64,
        "gray_levels": 2**20,
        "symmetry_draws": 400,
        "repeats": 3,
    },
}


def compare_ms(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall-clock milliseconds of each function over ``repeats`` rounds, after one warm-up call of each.

    The functions are called in turn within each round, so a burst of load from other work on a shared
    machine slows all of them alike instead of one.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize(DEVICE)
            start = time.perf_counter()
            fn()
            synchronize(DEVICE)
            times[name].append(time.perf_counter() - start)
    return {name: round(statistics.median(t) * 1e3, 4) for name, t in times.items()}


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


# --------------------------------------------------------------------------------------------------- colour


def color_candidates(sizes: dict, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(1)
    frame64 = on(torch.rand(sizes["frame"], generator=gen, dtype=torch.float64))
    batch64 = on(torch.rand(sizes["batch"], generator=gen, dtype=torch.float64))
    images = {"float64": frame64, "float32": frame64.float()}
    matlab_weights = {dt: on(torch.tensor(color._RGB2GRAY, dtype=dt)) for dt in (torch.float32, torch.float64)}

    def per_dtype(fn: Callable[[torch.Tensor], float]) -> dict:
        return {name: fn(image) for name, image in images.items()}

    def round_trip(forward: Callable, inverse: Callable) -> Callable[[torch.Tensor], float]:
        return lambda x: max_abs(inverse(forward(x)), x)

    def timings(fns: dict[str, Callable[[torch.Tensor], torch.Tensor]]) -> dict:
        out = {}
        for label, x in (("frame", frame64.float()), ("batch", batch64.float())):
            out[label] = compare_ms({name: functools.partial(fn, x) for name, fn in fns.items()}, repeats)
        return out

    result = {
        "shapes": {"frame": list(sizes["frame"]), "batch": list(sizes["batch"])},
        "rgb_to_ycbcr": {
            "max_abs_diff": per_dtype(lambda x: max_abs(kornia.color.rgb_to_ycbcr(x), color.rgb_to_ycbcr(x))),
            "ms": timings({"ours": color.rgb_to_ycbcr, "kornia": kornia.color.rgb_to_ycbcr}),
        },
        "ycbcr_to_rgb": {
            # Both inverses applied to our YCbCr of in-gamut RGB (so kornia's clamp changes nothing).
            "max_abs_diff": per_dtype(
                lambda x: max_abs(
                    kornia.color.ycbcr_to_rgb(color.rgb_to_ycbcr(x)), color.ycbcr_to_rgb(color.rgb_to_ycbcr(x))
                )
            ),
            "ms": timings({"ours": color.ycbcr_to_rgb, "kornia": kornia.color.ycbcr_to_rgb}),
        },
        "round_trip_max_abs_error": {
            "ours": per_dtype(round_trip(color.rgb_to_ycbcr, color.ycbcr_to_rgb)),
            "kornia": per_dtype(round_trip(kornia.color.rgb_to_ycbcr, kornia.color.ycbcr_to_rgb)),
            "kornia_forward_our_inverse": per_dtype(round_trip(kornia.color.rgb_to_ycbcr, color.ycbcr_to_rgb)),
        },
        "rgb_to_gray": {
            "max_abs_diff_default_weights": per_dtype(
                lambda x: max_abs(kornia.color.rgb_to_grayscale(x), color.rgb_to_gray(x))
            ),
            "max_abs_diff_matlab_weights": per_dtype(
                lambda x: max_abs(
                    kornia.color.rgb_to_grayscale(x, rgb_weights=matlab_weights[x.dtype]), color.rgb_to_gray(x)
                )
            ),
            "rounded_levels_differing": gray_level_rounding(sizes["gray_levels"], matlab_weights[torch.float64]),
            "ms": timings(
                {
                    "ours": color.rgb_to_gray,
                    "kornia_default_weights": kornia.color.rgb_to_grayscale,
                    "kornia_matlab_weights": lambda x: kornia.color.rgb_to_grayscale(
                        x, rgb_weights=matlab_weights[x.dtype]
                    ),
                }
            ),
        },
        "rgb_to_y": {
            # kornia's rgb_to_y is the full-range luma (0.299, 0.587, 0.114), not MATLAB's studio-range Y.
            "max_abs_diff_kornia_rgb_to_y": per_dtype(lambda x: max_abs(kornia.color.rgb_to_y(x), color.rgb_to_y(x))),
        },
    }
    return result


def gray_level_rounding(count: int, weights: torch.Tensor) -> dict:
    """How many 8-bit colours (in [0, 255], float64) round to another gray level with kornia and our weights."""
    codes = torch.arange(count, dtype=torch.int64) if count == 2**24 else torch.randperm(2**24)[:count]
    differing = 0
    for chunk in on(codes).split(2**20):
        rgb = torch.stack([chunk >> 16, (chunk >> 8) & 255, chunk & 255]).double().view(1, 3, 1, -1)
        ours = color.rgb_to_gray(rgb).round()
        theirs = kornia.color.rgb_to_grayscale(rgb, rgb_weights=weights).round()
        differing += int((ours != theirs).sum())
    return {"colours": count, "differing": differing}


# ------------------------------------------------------------------------------------------------ filtering


def kornia_ssim_filters(dtype: torch.dtype, padding: str) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    window = on(gaussian_window(11, 1.5, dtype))
    taps = window.sum(1)  # the normalised 1-D Gaussian
    return {
        "filter2d": lambda t: kornia.filters.filter2d(t, window[None], border_type="constant", padding=padding),
        "filter2d_separable": lambda t: kornia.filters.filter2d_separable(
            t, taps[None], taps[None], border_type="constant", padding=padding
        ),
        # The drop-in form for ssim_map's integer ``padding``: zeros added by F.pad, then 'valid' filtering.
        "filter2d_separable_zero_prepad": lambda t: kornia.filters.filter2d_separable(
            F.pad(t, [5] * 4) if padding == "same" else t, taps[None], taps[None], padding="valid"
        ),
        "gaussian_blur2d": lambda t: (
            kornia.filters.gaussian_blur2d(t, 11, (1.5, 1.5), border_type="constant")
            if padding == "same"
            else kornia.filters.gaussian_blur2d(t, 11, (1.5, 1.5), border_type="constant")[..., 5:-5, 5:-5]
        ),
    }


def torch_separable_filter(dtype: torch.dtype, padding: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Not a kornia candidate: the same separable filtering as two plain ``F.conv2d`` passes (what separability
    alone gives, without a dependency)."""
    taps = on(gaussian_window(11, 1.5, dtype).sum(1))

    def filt(t: torch.Tensor) -> torch.Tensor:
        c = t.shape[1]
        t = F.conv2d(t, taps.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(padding, 0), groups=c)
        return F.conv2d(t, taps.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, padding), groups=c)

    return filt


def loss_gradient(fn: Callable[..., torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of ``fn(x, y).mean()`` with respect to ``x``."""
    leaf = x.detach().requires_grad_()
    fn(leaf, y).mean().backward()
    assert leaf.grad is not None
    return leaf.grad


def forward_backward(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        leaves = [t.detach().requires_grad_() for t in inputs]
        fn(*leaves).mean().backward()

    return run


def filtering_candidates(sizes: dict, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(2)
    out: dict[str, Any] = {}

    # SSIM 'same' (zero padding), the SelfDeblur loss: float32, forward + backward.
    x = torch.rand(sizes["ssim_same"], generator=gen)
    x, y = on(x), on((x + 0.1 * torch.randn(sizes["ssim_same"], generator=gen)).clamp(0, 1))
    ours_same = ssim_map(x.double(), y.double())
    same_filters = {dtype: kornia_ssim_filters(dtype, "same") for dtype in (torch.float64, torch.float32)}
    two_passes32 = torch_separable_filter(torch.float32, 5)
    same: dict[str, Any] = {"shape": list(sizes["ssim_same"]), "max_abs_diff_float64": {}, "max_abs_diff_float32": {}}
    for dtype, key in ((torch.float64, "max_abs_diff_float64"), (torch.float32, "max_abs_diff_float32")):
        reference = ssim_map(x.to(dtype), y.to(dtype))
        for name, filt in same_filters[dtype].items():
            same[key][name] = max_abs(ssim_from_local_means(x.to(dtype), y.to(dtype), filt), reference)
        same[key]["kornia_metrics_ssim_reflect"] = max_abs(
            kornia.metrics.ssim(x.to(dtype), y.to(dtype), 11, 1.0, eps=0.0, padding="same"), reference
        )
    # Float32 against the float64 map: is kornia's float32 as close to it as ours?
    same["float32_vs_float64_ours"] = max_abs(ssim_map(x, y), ours_same)
    same["float32_filter2d_separable_vs_float64_ours"] = max_abs(
        ssim_from_local_means(x, y, same_filters[torch.float32]["filter2d_separable"]), ours_same
    )
    same["torch_two_1d_conv2d_float32"] = max_abs(ssim_from_local_means(x, y, two_passes32), ours_same)
    # The loss's gradient (what the optimiser sees) with kornia's separable filtering against ours.
    grads: dict[str, Any] = {}
    for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):
        separable = same_filters[dtype]["filter2d_separable"]
        reference = loss_gradient(ssim_map, x.to(dtype), y.to(dtype))
        theirs = loss_gradient(lambda a, b, f=separable: ssim_from_local_means(a, b, f), x.to(dtype), y.to(dtype))
        grads[label] = {"max_abs_diff": max_abs(theirs, reference), "max_abs_reference": float(reference.abs().max())}
    grads["ours_float32_vs_float64"] = max_abs(
        loss_gradient(ssim_map, x, y), loss_gradient(ssim_map, x.double(), y.double())
    )
    same["loss_gradient_filter2d_separable"] = grads
    same["ms_forward_backward_float32"] = compare_ms(
        {
            "ours": forward_backward(ssim_map, x, y),
            **{
                name: forward_backward(lambda a, b, f=f: ssim_from_local_means(a, b, f), x, y)
                for name, f in same_filters[torch.float32].items()
            },
            "kornia_metrics_ssim_reflect": forward_backward(
                lambda a, b: kornia.metrics.ssim(a, b, 11, 1.0, eps=0.0), x, y
            ),
            "torch_two_1d_conv2d": forward_backward(lambda a, b: ssim_from_local_means(a, b, two_passes32), x, y),
        },
        repeats,
    )
    out["ssim_same_zero_padding"] = same

    # SSIM 'valid', the evaluation metric: float64 (as reblur.metrics.full_reference computes it) and float32.
    x = torch.rand(sizes["ssim_valid"], generator=gen, dtype=torch.float64)
    x, y = on(x), on((x + 0.1 * torch.randn(sizes["ssim_valid"], generator=gen, dtype=torch.float64)).clamp(0, 1))
    valid: dict[str, Any] = {"shape": list(sizes["ssim_valid"])}
    for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):
        a, b = x.to(dtype), y.to(dtype)
        valid_filters = kornia_ssim_filters(dtype, "valid")
        reference = ssim_map(a, b, padding=0)
        k_valid = kornia.metrics.ssim(a, b, 11, 1.0, eps=0.0, padding="valid")
        diffs = {name: max_abs(ssim_from_local_means(a, b, f), reference) for name, f in valid_filters.items()}
        diffs["kornia_metrics_ssim_valid_eps0"] = max_abs(k_valid, reference)
        diffs["kornia_metrics_ssim_valid_default_eps"] = max_abs(
            kornia.metrics.ssim(a, b, 11, 1.0, padding="valid"), reference
        )
        diffs["mean_ssim_difference_kornia_metrics"] = abs(float(k_valid.double().mean() - reference.double().mean()))
        if dtype == torch.float32:  # distance of each float32 map to the float64 one
            reference64 = ssim_map(x, y, padding=0)
            diffs["ours_vs_float64_ours"] = max_abs(reference, reference64)
            diffs["filter2d_separable_vs_float64_ours"] = max_abs(
                ssim_from_local_means(a, b, valid_filters["filter2d_separable"]), reference64
            )
        valid[f"max_abs_diff_{label}"] = diffs
        separable, plain = valid_filters["filter2d_separable"], torch_separable_filter(dtype, 0)
        valid[f"ms_forward_{label}"] = compare_ms(
            {
                "ours": functools.partial(ssim_map, a, b, padding=0),
                "kornia_metrics_ssim": functools.partial(kornia.metrics.ssim, a, b, 11, 1.0, eps=0.0, padding="valid"),
                "filter2d_separable": functools.partial(ssim_from_local_means, a, b, separable),
                "torch_two_1d_conv2d": functools.partial(ssim_from_local_means, a, b, plain),
            },
            repeats,
        )
    out["ssim_valid"] = valid

    out["correlate_valid"] = blur_candidates(sizes, repeats, gen)
    out["niqe_mscn"] = mscn_candidates(sizes, repeats)
    return out


def blur_candidates(sizes: dict, repeats: int, gen: torch.Generator) -> dict:
    """SelfDeblur's forward model: 'valid' correlation of a latent image with a filter, forward + backward."""
    n, c, h, w = sizes["blur_output"]
    result: dict[str, Any] = {"output_shape": list(sizes["blur_output"])}
    # Orientation on an asymmetric filter, float64: which behaviour of filter2d is our correlation?
    image = on(torch.rand(n, c, h + 6, w + 6, generator=gen, dtype=torch.float64))
    filt = on(torch.rand(7, 7, generator=gen, dtype=torch.float64))
    filt /= filt.sum()
    ours = correlate_valid(image, filt)
    result["max_abs_diff_float64"] = {
        "filter2d_corr": max_abs(kornia.filters.filter2d(image, filt[None], padding="valid"), ours),
        "filter2d_conv": max_abs(kornia.filters.filter2d(image, filt[None], padding="valid", behaviour="conv"), ours),
    }
    result["max_abs_diff_float32"] = {
        "filter2d_corr": max_abs(kornia.filters.filter2d(image.float(), filt[None].float(), padding="valid"), ours)
    }
    result["ours_float32_vs_float64"] = max_abs(correlate_valid(image.float(), filt.float()), ours)
    timings = {}
    for k in (5, 31):
        latent = on(torch.rand(n, c, h + k - 1, w + k - 1, generator=gen))
        f = on(torch.rand(k, k, generator=gen))
        f /= f.sum()
        timings[f"k{k}"] = compare_ms(
            {
                "ours_auto": forward_backward(lambda a, b: correlate_valid(a, b, "auto"), latent, f),
                "ours_direct": forward_backward(correlate_valid, latent, f),
                "kornia_filter2d": forward_backward(
                    lambda a, b: kornia.filters.filter2d(a, b[None], padding="valid"), latent, f
                ),
            },
            repeats,
        )
    result["ms_forward_backward_float32"] = timings
    return result


def kornia_mscn(gray: torch.Tensor, window: torch.Tensor, separable: bool = True) -> torch.Tensor:
    """:func:`reblur.metrics.niqe._mscn` with kornia's filtering (replicate borders): the 1-D taps in two passes
    (``filter2d_separable``), or the 7x7 window in one (``filter2d``)."""
    local = torch.stack([gray, gray.square()], dim=1)  # (N, 2, H, W)
    if separable:
        taps = window.sum(1).to(gray)[None]
        local = kornia.filters.filter2d_separable(local, taps, taps, border_type="replicate")
    else:
        local = kornia.filters.filter2d(local, window[None].to(gray), border_type="replicate")
    mu, mean_square = local[:, 0], local[:, 1]
    sigma = torch.sqrt((mean_square - mu.square()).abs())
    return (gray - mu) / (sigma + 1)


def flat_frame(shape: Sequence[int]) -> torch.Tensor:
    """A natural frame (scikit-image's astronaut) with flat areas: a mid-gray block, a white band, a black corner."""
    n, c, h, w = shape
    image = natural_frame(h, w).double()
    image[..., h // 4 : h // 2, w // 4 : w // 2] = 0.5
    image[..., -h // 6 :, :] = 1.0
    image[..., : h // 5, : w // 5] = 0.0
    return image.expand(n, c, h, w).clone()


def mscn_candidates(sizes: dict, repeats: int) -> dict:
    window = on(niqe_module.pristine_model()["window"])
    gray = niqe_module.gray_levels(on(flat_frame(sizes["mscn"])))
    # An MSCN coefficient (gray - mu) / (sigma + 1) is 0 exactly where gray - mu is: its zeros are those of gray - mu.
    ours = niqe_module._mscn(gray, window)
    separable, full = kornia_mscn(gray, window), kornia_mscn(gray, window, separable=False)
    # Pixels whose 7x7 neighbourhood (replicate borders) is flat: where mu equals the gray level in exact arithmetic.
    pad = window.shape[-1] // 2
    padded = F.pad(gray[:, None], (pad,) * 4, mode="replicate")
    flat = F.max_pool2d(padded, 2 * pad + 1, stride=1) == -F.max_pool2d(-padded, 2 * pad + 1, stride=1)
    result: dict[str, Any] = {
        "shape": list(gray.shape),
        "mscn_max_abs_diff": {"filter2d_separable": max_abs(separable, ours), "filter2d_7x7": max_abs(full, ours)},
        "exact_zeros_of_gray_minus_mu": {
            "ours": int((ours == 0).sum()),
            "filter2d_separable": int((separable == 0).sum()),
            "filter2d_7x7": int((full == 0).sum()),
            "flat_7x7_neighbourhoods": int(flat.sum()),
            "pixels": gray.numel(),
        },
        "ms_float64": compare_ms(
            {
                "ours": lambda: niqe_module._mscn(gray, window),
                "filter2d_separable": lambda: kornia_mscn(gray, window),
            },
            repeats,
        ),
    }
    frame = on(flat_frame(sizes["niqe"]))
    ours_score = float(niqe_module.niqe(frame)[0])
    original = niqe_module._mscn
    niqe_module._mscn = kornia_mscn
    try:
        kornia_score = float(niqe_module.niqe(frame)[0])
    finally:
        niqe_module._mscn = original
    result["niqe_of_flat_frame"] = {
        "shape": list(sizes["niqe"]),
        "ours": ours_score,
        "with_kornia_mscn": kornia_score,
        "difference": kornia_score - ours_score,
    }
    return result


# --------------------------------------------------------------------------------------------- augmentation


def symmetries(image: torch.Tensor) -> list[torch.Tensor]:
    """The 8 symmetries of the square as the Dataset draws them: (hflip, vflip, rot90) in binary order."""
    out = []
    for hflip, vflip, rot90 in itertools.product((False, True), repeat=3):
        dims = [d for d, flip in ((-1, hflip), (-2, vflip)) if flip]
        t = image.flip(dims) if dims else image
        out.append(t.rot90(1, (-2, -1)) if rot90 else t)
    return out


def kornia_pipeline(crop: int | None, rotation_resample: str = "bilinear") -> KA.AugmentationSequential:
    steps: list[Any] = [KA.RandomCrop((crop, crop))] if crop else []
    steps += [
        KA.RandomHorizontalFlip(p=0.5),
        KA.RandomVerticalFlip(p=0.5),
        KA.RandomRotation90(times=(0, 1), p=1.0, resample=rotation_resample),
        KA.RandomChannelShuffle(p=1.0),
    ]
    return KA.AugmentationSequential(*steps, data_keys=["input", "input"])


def symmetry_index(out: torch.Tensor, source: torch.Tensor) -> tuple[tuple[int, tuple[int, ...]], float]:
    """Which symmetry and channel permutation of ``source`` (C, h, w) ``out`` is closest to, and how far from it."""
    best: tuple[tuple[int, tuple[int, ...]], float] = ((-1, ()), float("inf"))
    for index, candidate in enumerate(symmetries(source)):
        for perm in itertools.permutations(range(source.shape[0])):
            diff = max_abs(out, candidate[list(perm)])
            if diff < best[1]:
                best = ((index, perm), diff)
    return best


def augmentation_candidates(sizes: dict, repeats: int, seed: int) -> dict:
    from pytorch_lightning import seed_everything

    h, w = sizes["augment_frame"]
    crop = sizes["augment_crop"]
    gen = torch.Generator().manual_seed(3)
    frames = [(torch.rand(3, h, w, generator=gen), torch.rand(3, h, w, generator=gen)) for _ in range(2)]
    pairs = [TensorPair(*frames[i % 2], name=f"pair{i}") for i in range(BATCH)]
    dataset = PairedImageDataset(pairs, crop_size=crop, augment=True, channel_shuffle=True)
    crops_only = PairedImageDataset(pairs, crop_size=crop)

    def ours_batch() -> dict:
        return default_collate([dataset[i] for i in range(BATCH)])

    blurry_cpu = torch.stack([pairs[i].blurry for i in range(BATCH)])
    sharp_cpu = torch.stack([pairs[i].sharp for i in range(BATCH)])
    blurry_full, sharp_full = on(blurry_cpu), on(sharp_cpu)  # the frames where kornia works on them
    result: dict[str, Any] = {"batch": BATCH, "frame": [h, w], "crop": crop, "device": str(DEVICE)}

    # Exactness and pair alignment: each kornia output against the symmetries of the crop its params name.
    checks = {}
    for resample in ("bilinear", "nearest"):
        aug = kornia_pipeline(crop, resample)
        torch.manual_seed(seed)
        out_b, out_s = (t.cpu() for t in aug(blurry_full, sharp_full))
        params: Any = aug._params  # one ParamItem per step; the crop's "src" holds each box's corners (x, y)
        boxes = params[0].data["src"].cpu()
        worst, aligned = 0.0, True
        for i in range(BATCH):
            x0, y0 = int(boxes[i, 0, 0]), int(boxes[i, 0, 1])
            window = (..., slice(y0, y0 + crop), slice(x0, x0 + crop))
            index_b, diff_b = symmetry_index(out_b[i], blurry_cpu[i][window])
            index_s, diff_s = symmetry_index(out_s[i], sharp_cpu[i][window])
            worst = max(worst, diff_b, diff_s)
            aligned &= index_b == index_s  # the same symmetry and the same channel order for both
        checks[f"rotation_{resample}"] = {"max_abs_diff_to_exact_symmetry_of_crop": worst, "pairs_aligned": aligned}
    result["kornia_exactness"] = checks

    # Which symmetries and crop offsets each path reaches (on small identifiable images).
    draws = sizes["symmetry_draws"]
    probe = torch.arange(9, dtype=torch.float32).view(1, 3, 3).expand(3, 3, 3).clone()
    probe_symmetries = symmetries(probe)
    torch.manual_seed(seed)
    ours_counts = [0] * 8
    for _ in range(draws):
        out, _ = PairedImageDataset._random_symmetry(probe, probe)
        ours_counts[next(i for i, s in enumerate(probe_symmetries) if torch.equal(out, s))] += 1
    torch.manual_seed(seed)
    probes = on(probe.expand(draws, 3, 3, 3))
    outs, _ = kornia_pipeline(None, "nearest")(probes, probes)
    kornia_counts = [0] * 8
    for out in outs.round().cpu():
        kornia_counts[next(i for i, s in enumerate(probe_symmetries) if torch.equal(out[0], s[0]))] += 1
    result["symmetry_counts"] = {"draws": draws, "ours": ours_counts, "kornia": kornia_counts}

    small = torch.arange(36, dtype=torch.float32).view(1, 1, 6, 6)
    torch.manual_seed(seed)
    ours_offsets = [int(PairedImageDataset._random_crop(small[0], small[0], 4)[0][0, 0, 0]) for _ in range(draws // 4)]
    torch.manual_seed(seed)
    kornia_offsets = KA.RandomCrop((4, 4))(on(small.expand(draws // 4, 1, 6, 6)))[:, 0, 0, 0].long().tolist()
    result["crop_offsets_reached"] = {
        "possible": 9,
        "draws": draws // 4,
        "ours": len(set(ours_offsets)),
        "kornia": len(set(kornia_offsets)),
    }

    # Reproducibility under seed_everything.
    def seeded(fn: Callable[[], Any]) -> Any:
        seed_everything(seed, workers=True, verbose=False)
        return fn()

    aug = kornia_pipeline(crop)
    first_ours, second_ours = seeded(ours_batch), seeded(ours_batch)
    first_k, second_k = seeded(lambda: aug(blurry_full, sharp_full)), seeded(lambda: aug(blurry_full, sharp_full))
    result["reproducible_under_seed_everything"] = {
        "ours": all(torch.equal(first_ours[k], second_ours[k]) for k in ("blurry", "sharp")),
        "kornia": all(torch.equal(a, b) for a, b in zip(first_k, second_k)),
    }
    # The same seed gives the two paths different crops: kornia draws its parameters in another order.
    result["same_seed_same_first_crop_as_dataset"] = bool(
        torch.equal(first_ours["blurry"][0].to(DEVICE), first_k[0][0])
    )

    # Milliseconds per batch of 16 pairs, CPU.
    no_crop = kornia_pipeline(None)
    crop_batch = {k: on(v) for k, v in default_collate([crops_only[i] for i in range(BATCH)]).items() if k != "name"}
    nearest, no_crop_nearest = kornia_pipeline(crop, "nearest"), kornia_pipeline(None, "nearest")
    result["ms_per_batch"] = compare_ms(
        {
            "ours_dataset_crop_symmetry_shuffle_collate": ours_batch,
            "ours_dataset_crop_collate_only": lambda: default_collate([crops_only[i] for i in range(BATCH)]),
            "kornia_all_on_full_frame_batch": lambda: aug(blurry_full, sharp_full),
            "kornia_all_on_full_frame_batch_nearest_rotation": lambda: nearest(blurry_full, sharp_full),
            "stack_16_full_frame_pairs": lambda: (
                torch.stack([p.blurry for p in pairs]),
                torch.stack([p.sharp for p in pairs]),
            ),
            **(
                {
                    # What each path has to move to the GPU per batch: 16 crops, or 16 full frames.
                    "ours_dataset_batch_then_to_device": lambda: [
                        t.to(DEVICE) for k, t in ours_batch().items() if k != "name"
                    ],
                    "full_frame_pairs_stack_then_to_device": lambda: (
                        torch.stack([p.blurry for p in pairs]).to(DEVICE),
                        torch.stack([p.sharp for p in pairs]).to(DEVICE),
                    ),
                }
                if DEVICE.type == "cuda"
                else {}
            ),
            "kornia_symmetry_shuffle_on_cropped_batch": lambda: no_crop(crop_batch["blurry"], crop_batch["sharp"]),
            "kornia_symmetry_shuffle_on_cropped_batch_nearest_rotation": lambda: no_crop_nearest(
                crop_batch["blurry"], crop_batch["sharp"]
            ),
        },
        repeats,
    )
    result["note"] = (
        "CPU only: a GPU advantage of kornia's batched augmentation cannot be measured on this machine"
        if DEVICE.type == "cpu"
        else "kornia's rows run on the GPU on frames already there; the Dataset rows run on the CPU, as in training"
    )
    return result


# ---------------------------------------------------------------------------------------------------- main


@contextlib.contextmanager
def restored_global_state() -> Iterator[None]:
    """Leaves the thread count, the random generators and seed_everything's variables as they were (for tests)."""
    import random

    import numpy as np

    threads, torch_rng, python_rng, numpy_rng = (
        torch.get_num_threads(),
        torch.get_rng_state(),
        random.getstate(),
        np.random.get_state(),
    )
    env = {k: os.environ.get(k) for k in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")}
    try:
        yield
    finally:
        global DEVICE
        DEVICE = torch.device("cpu")
        torch.set_num_threads(threads)
        torch.set_rng_state(torch_rng)
        random.setstate(python_rng)
        np.random.set_state(numpy_rng)
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small images, few repeats: a few seconds")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (after a warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where the measured tensors live")
    parser.add_argument(
        "--cuda-float32",
        choices=("ieee", "tf32"),
        default="ieee",
        help="CUDA float32 convolutions: IEEE (SelfDeblur's default) or TF32 (selfdeblur.cuda_precision)",
    )
    args = parser.parse_args(argv)
    with restored_global_state(), contextlib.ExitStack() as stack:
        if torch.device(args.device).type == "cuda":
            from selfdeblur.cuda_precision import cuda_float32_precision

            stack.enter_context(cuda_float32_precision(args.cuda_float32))
        result = run(args)
    print(json.dumps(result, indent=1))
    return result


def run(args: argparse.Namespace) -> dict:
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    sizes = SIZES[args.quick]
    repeats = args.repeats or sizes["repeats"]
    start = time.perf_counter()
    load_start = [round(v, 2) for v in os.getloadavg()]
    result = {
        "benchmark": "kornia_candidates",
        "quick": args.quick,
        "torch": torch.__version__,
        "kornia": kornia.__version__,
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "device": str(DEVICE),
        **(
            {"gpu": torch.cuda.get_device_name(DEVICE), "cuda_float32": args.cuda_float32}
            if DEVICE.type == "cuda"
            else {}
        ),
        "repeats": repeats,
        "color": color_candidates(sizes, repeats),
        "filtering": filtering_candidates(sizes, repeats),
        "augmentation": augmentation_candidates(sizes, repeats, args.seed),
    }
    result["seconds_total"] = round(time.perf_counter() - start, 2)
    # 1, 5 and 15-minute load averages: above the thread count, other work competed for the cores.
    result["load_average"] = {"start": load_start, "end": [round(v, 2) for v in os.getloadavg()]}
    return result


if __name__ == "__main__":
    main()
