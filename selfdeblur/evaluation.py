"""Scoring a SelfDeblur results folder with Levin et al.'s protocol (the command: :mod:`selfdeblur.evaluate`).

For every image of the dataset it reads ``RESULTS/NAME_deblurred.png`` and ``RESULTS/NAME_kernel.npy``
(what ``selfdeblur fit`` writes), aligns the estimate to the ground truth and scores it as
:mod:`selfdeblur.levin_protocol` describes (PSNR, SSIM, error ratios, kernel similarity). The
known-kernel baseline ``x_gtk`` (the error ratio's denominator) is the sparse non-blind deconvolution
(:mod:`selfdeblur.sparse_deconvolution`) with the ground-truth kernel, clipped and rounded to 8 bits
as the authors' PNG files are. ``delta=True`` also scores SelfDeblur-Delta: the same non-blind deconvolution
with the estimated kernel. Lai et al.'s set (``dataset="lai"``) is scored as the authors'
``statistic_lai.m`` does: on the Y channel of MATLAB's ``rgb2ycbcr`` (of the ground truth, and of the
estimate if it is in colour), the same alignment, PSNR and SSIM, no error ratio.

Writes ``per_image.csv`` (one row per image), ``means.csv`` and ``table.md`` (means beside the paper's
Table 3) to ``output`` (default ``RESULTS/evaluation``); images without results are listed as missing
(in the table and on the console), not scored. Existing outputs are kept unless ``overwrite``.
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deblur_core.cli_errors import UsageError
from deblur_core.color import rgb_to_y
from deblur_core.crop import center_crop
from deblur_core.files import atomic_write_csv, atomic_write_text
from deblur_core.image_io import read_image
from selfdeblur.data import (
    BlurryImage,
    discover_lai,
    discover_levin,
    names_example,
    orient_true_kernel,
    select_by_name,
)
from selfdeblur.levin_protocol import (
    LEVIN_MAX_SHIFT,
    align_upto_shift,
    error_ratios,
    kernel_similarity,
    psnr_255,
    ssim_wang,
)
from selfdeblur.sparse_deconvolution import deconvolve_sparse

# Ren et al., CVPR 2020, Table 3 (Levin et al.'s set, means over 32 images): PSNR, SSIM, error ratio.
PAPER_LEVIN = {
    "SelfDeblur": (33.07, 0.9313, 1.1968),
    "SelfDeblur-Delta": (33.32, 0.9438, 1.2509),
    "known kernel": (34.53, 0.9492, 1.0000),
}
# Ren et al., CVPR 2020, Table 4 (Lai et al.'s uniform set, Y channel): PSNR / SSIM per category and on average.
PAPER_LAI = {
    "SelfDeblur": {
        "manmade": (20.35, 0.7543),
        "natural": (22.05, 0.7092),
        "people": (25.94, 0.8834),
        "saturated": (16.35, 0.6364),
        "text": (20.16, 0.7785),
        "average": (20.97, 0.7524),
    },
    "SelfDeblur-Delta": {"average": (21.13, 0.7319)},
}
FIELDS = (
    "name",
    "psnr",
    "ssim",
    "error_ratio",
    "ssd_ratio",
    "shift_y",
    "shift_x",
    "kernel_similarity",
    "delta_psnr",
    "delta_ssim",
    "delta_error_ratio",
    "known_kernel_psnr",
    "known_kernel_ssim",
)


def quantise(image: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to 8 bits, as an image saved to PNG and read back."""
    return torch.round(image.clamp(0, 1) * 255) / 255


def nonblind(blurry: torch.Tensor, kernel: torch.Tensor, smoothness: float) -> torch.Tensor:
    """The sparse deconvolution of a ``(H, W)`` image, cropped to ``H x W`` and rounded to 8 bits."""
    latent = deconvolve_sparse(blurry, kernel, smoothness=smoothness)
    return quantise(center_crop(latent, *blurry.shape[-2:]))


def read_gray(path: Path, luma: bool = False) -> torch.Tensor:
    """A ``(H, W)`` float64 image; with ``luma`` colour images become their ``rgb2ycbcr`` Y channel."""
    image = read_image(path)
    if image.shape[0] == 3 and luma:
        return rgb_to_y(image[None].double())[0, 0]  # MATLAB's rgb2ycbcr Y
    if image.shape[0] != 1:
        raise ValueError(f"'{path}': expected a grayscale image for the Levin protocol, got {image.shape[0]} channels")
    return image[0].double()


def score_lai(image: BlurryImage, results: Path, max_shift: float) -> dict[str, Any]:
    """One row for Lai et al.'s set: PSNR and SSIM on the Y channel, no error ratio."""
    estimate_path = results / f"{image.name}_deblurred.png"
    if not estimate_path.is_file():
        raise FileNotFoundError(estimate_path)
    if image.sharp is None:
        raise ValueError(f"'{image.source}': no ground truth (ground_truth/CATEGORY_NN.png) to score against")
    assert isinstance(image.sharp, Path)  # discover_lai gives files
    truth, estimate = read_gray(image.sharp, luma=True), read_gray(estimate_path, luma=True)
    if estimate.shape != truth.shape:
        raise ValueError(f"'{estimate_path}' is {tuple(estimate.shape)}, the ground truth {tuple(truth.shape)}")
    aligned = align_upto_shift(estimate, truth, max_shift)
    return {
        "name": image.name,
        "psnr": psnr_255(aligned.image, aligned.truth),
        "ssim": ssim_wang(aligned.image, aligned.truth),
        "shift_y": aligned.shift[0],
        "shift_x": aligned.shift[1],
    }


def score_image(image: BlurryImage, results: Path, max_shift: float, delta: bool, smoothness: float) -> dict[str, Any]:
    """One row of ``per_image.csv``; raises ``FileNotFoundError`` naming a missing result file."""
    estimate_path, kernel_path = results / f"{image.name}_deblurred.png", results / f"{image.name}_kernel.npy"
    for path in (estimate_path, kernel_path):
        if not path.is_file():
            raise FileNotFoundError(path)
    if image.sharp is None or image.true_kernel is None:
        raise ValueError(f"'{image.source}': the ground-truth image and kernel (gt/) are needed to score it")
    assert isinstance(image.blurry, Path) and isinstance(image.sharp, Path)  # discover_levin gives files
    blurry, truth = read_gray(image.blurry), read_gray(image.sharp)
    given_kernel = image.load_true_kernel()
    assert given_kernel is not None  # true_kernel is set (checked above)
    true_kernel, _ = orient_true_kernel(blurry[None].float(), truth[None].float(), given_kernel)
    estimate = read_gray(estimate_path)
    if estimate.shape != truth.shape:
        raise ValueError(f"'{estimate_path}' is {tuple(estimate.shape)}, the ground truth {tuple(truth.shape)}")
    kernel = torch.from_numpy(np.load(kernel_path)).double()
    if kernel.dim() != 2 or not torch.isfinite(kernel).all():
        raise ValueError(f"'{kernel_path}': expected a finite 2-D kernel, got shape {tuple(kernel.shape)}")
    known = align_upto_shift(nonblind(blurry, true_kernel.double(), smoothness), truth, max_shift)
    aligned = align_upto_shift(estimate, truth, max_shift)
    row: dict[str, Any] = {
        "name": image.name,
        "psnr": psnr_255(aligned.image, aligned.truth),
        "ssim": ssim_wang(aligned.image, aligned.truth),
        **error_ratios(aligned, known),
        "shift_y": aligned.shift[0],
        "shift_x": aligned.shift[1],
        "kernel_similarity": kernel_similarity(kernel, true_kernel.double()),
        "known_kernel_psnr": psnr_255(known.image, known.truth),
        "known_kernel_ssim": ssim_wang(known.image, known.truth),
    }
    if delta:
        aligned_delta = align_upto_shift(nonblind(blurry, kernel, smoothness), truth, max_shift)
        row["delta_psnr"] = psnr_255(aligned_delta.image, aligned_delta.truth)
        row["delta_ssim"] = ssim_wang(aligned_delta.image, aligned_delta.truth)
        row["delta_error_ratio"] = error_ratios(aligned_delta, known)["error_ratio"]
    return row


def means(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    return {
        field: statistics.fmean(float(r[field]) for r in rows)
        for field in FIELDS[1:]
        if rows and all(r.get(field) not in (None, "") for r in rows)
    }


def lai_categories(rows: Sequence[dict[str, Any]]) -> dict[str, tuple[int, float, float]]:
    """``category -> (images, mean PSNR, mean SSIM)`` of Lai rows (names ``CATEGORY_NN_kernel_KK``), then
    ``"average"`` over all rows."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row["name"]).split("_")[0], []).append(row)
    out = {
        c: (len(g), statistics.fmean(r["psnr"] for r in g), statistics.fmean(r["ssim"] for r in g))
        for c, g in sorted(groups.items())
    }
    if rows:
        out["average"] = (
            len(rows),
            statistics.fmean(r["psnr"] for r in rows),
            statistics.fmean(r["ssim"] for r in rows),
        )
    return out


def markdown(
    mean: dict[str, float],
    count: int,
    total: int,
    missing: Sequence[str],
    dataset: str = "levin",
    categories: dict[str, tuple[int, float, float]] | None = None,
) -> str:
    protocol = "Levin's protocol (15 px crop, sub-pixel alignment within the shift bound, PSNR peak 255, Wang's SSIM)"
    if dataset == "lai":
        lines = [
            f"Lai et al.'s set: {count} of {total} images scored (means, Y channel), {protocol}.",
            "",
            "| category | images | PSNR (dB) | SSIM | paper PSNR | paper SSIM |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        paper = PAPER_LAI["SelfDeblur"]
        for category, (n, psnr, ssim) in (categories or {}).items():
            ref = paper.get(category)
            refs = f"{ref[0]:.2f} | {ref[1]:.4f}" if ref else "– | –"
            lines.append(f"| {category} | {n} | {psnr:.2f} | {ssim:.4f} | {refs} |")
        if categories:
            lines += [
                "",
                "The paper's average is over all 100 images; a subset's mean is comparable only per category "
                f"(the paper's SelfDeblur-Delta average: {PAPER_LAI['SelfDeblur-Delta']['average'][0]:.2f} / "
                f"{PAPER_LAI['SelfDeblur-Delta']['average'][1]:.4f}).",
            ]
        if missing:
            lines += ["", f"Missing results ({len(missing)}): {', '.join(missing)}."]
        return "\n".join(lines) + "\n"
    lines = [
        f"Levin et al.'s set: {count} of {total} images scored (means), {protocol}.",
        "",
        "| method | PSNR (dB) | SSIM | error ratio | paper PSNR | paper SSIM | paper error ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    ours = {
        "SelfDeblur": ("psnr", "ssim", "error_ratio"),
        "SelfDeblur-Delta": ("delta_psnr", "delta_ssim", "delta_error_ratio"),
        "known kernel": ("known_kernel_psnr", "known_kernel_ssim", None),
    }
    for method, keys in ours.items():
        if keys[0] not in mean:
            continue
        values = [f"{mean[keys[0]]:.2f}", f"{mean[keys[1]]:.4f}", f"{mean[keys[2]]:.4f}" if keys[2] else "1.0000"]
        levin = PAPER_LEVIN[method]
        lines.append(f"| {method} | {' | '.join(values)} | {levin[0]:.2f} | {levin[1]:.4f} | {levin[2]:.4f} |")
    if "ssd_ratio" in mean:
        lines += ["", f"Levin et al.'s SSD ratio (CVPR 2009), mean: {mean['ssd_ratio']:.4f}."]
    if "kernel_similarity" in mean:
        lines += [f"Kernel similarity (max. normalised cross-correlation), mean: {mean['kernel_similarity']:.4f}."]
    if missing:
        lines += ["", f"Missing results ({len(missing)}): {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> None:
    """Floats with 6 decimals."""
    formatted = [{k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()} for row in rows]
    atomic_write_csv(path, formatted, fields)


def data_root(results: Path, data: str | None, dataset: str = "levin") -> Path:
    """``--data``, or the benchmark folder of the blurry images named in the results' ``summary.csv``."""
    if data:
        return Path(data)
    summary = results / "summary.csv"
    if summary.is_file():
        with summary.open(newline="") as f:
            sources = [row.get("source", "") for row in csv.DictReader(f)]
        if sources and sources[0]:
            folder = Path(sources[0]).parent
            # Lai's blurry images are in uniform_ycbcr/ or uniform/ below the set's folder.
            return folder.parent if dataset == "lai" else folder
    raise UsageError(f"give --data (the benchmark folder): '{summary}' does not name the blurry images")


def evaluate(
    results: str,
    dataset: str = "levin",
    data: str | None = None,
    output: str | None = None,
    overwrite: bool = False,
    max_shift: float = LEVIN_MAX_SHIFT,
    delta: bool = False,
    smoothness: float = 0.001,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score ``results`` (see the module docstring); returns rows, means and the missing names."""
    if dataset not in ("levin", "lai"):
        raise ValueError(f"--dataset must be 'levin' or 'lai', got {dataset!r}")
    folder = Path(results)
    if not folder.is_dir():
        raise FileNotFoundError(f"--results: no such folder: '{folder}'")
    out = Path(output) if output else folder / "evaluation"
    targets = [out / "per_image.csv", out / "means.csv", out / "table.md"]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{', '.join(existing)} exist: give --overwrite to replace them, or another --output")
    root = data_root(folder, data, dataset)
    images = discover_levin(root) if dataset == "levin" else discover_lai(root)
    if names:
        example = names_example(images)
        images, _ = select_by_name(images, names)
        if not images:
            raise UsageError(f"--names {list(names)}: no image of the set matches{example}")
    rows, missing = [], []
    for image in images:
        try:
            if dataset == "lai":
                rows.append(score_lai(image, folder, max_shift))
            else:
                rows.append(score_image(image, folder, max_shift, delta, smoothness))
        except FileNotFoundError as err:
            missing.append(image.name)
            print(f"{image.name}: not scored, missing '{err.args[0]}'", file=sys.stderr)
            continue
        r = rows[-1]
        ratio = f", error ratio {r['error_ratio']:.4f}" if "error_ratio" in r else ""
        print(f"{image.name}: PSNR {r['psnr']:.2f} dB, SSIM {r['ssim']:.4f}{ratio}")
    mean = means(rows)
    write_csv(targets[0], rows, FIELDS)
    write_csv(targets[1], [{"images": len(rows), **mean}], ("images", *mean))
    categories = lai_categories(rows) if dataset == "lai" else None
    table = markdown(mean, len(rows), len(images), missing, dataset, categories)
    atomic_write_text(targets[2], table)
    print(table)
    return {"rows": rows, "means": mean, "missing": missing}
