"""How much the colour convention changes PSNR, SSIM and NIQE, on real blurry/sharp pairs; prints JSON.

Usage (from the repository root)::

    python -m benchmarks.metric_conventions --pairs ../shared/data/gopro_samples/pairs [--limit N]
        [--output docs/results/metric_conventions.md]

For every pair ``NAME.png`` (blurry) / ``NAME_gt.png`` (sharp) in ``--pairs`` it scores the blurry image
against the sharp one with PSNR and both SSIMs under each convention (``rgb``, ``y``, ``gray``), and NIQE of
the blurry and the sharp image under ``y`` and ``gray``. It reports per pair and the largest differences
between conventions, which is what a reader comparing numbers across tools should expect.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import code_version, cpu_name
from deblur_core.conventions import FULL_REFERENCE_COLORS, NIQE_COLORS
from deblur_core.files import atomic_write_text
from deblur_core.image_io import read_image
from reblur.metrics import niqe, psnr, ssim

COLORS = FULL_REFERENCE_COLORS


def pairs(folder: Path, limit: int | None) -> list[tuple[str, Path, Path]]:
    found = []
    for sharp in sorted(folder.glob("*_gt.png")):
        blurry = sharp.with_name(sharp.name.removesuffix("_gt.png") + ".png")
        if blurry.is_file():
            found.append((blurry.stem, blurry, sharp))
    if not found:
        raise SystemExit(f"no NAME.png / NAME_gt.png pairs in '{folder}'")
    return found[:limit] if limit else found


def score(blurry: torch.Tensor, sharp: torch.Tensor) -> dict[str, float]:
    b, s = blurry[None].double(), sharp[None].double()
    row: dict[str, float] = {}
    for color in COLORS:
        row[f"psnr_{color}"] = float(psnr(b, s, color=color))
        row[f"ssim_{color}"] = float(ssim(b, s, color=color))
        row[f"ssim_matlab_{color}"] = float(ssim(b, s, color=color, convention="matlab"))
    for color in NIQE_COLORS:
        row[f"niqe_blurry_{color}"] = float(niqe(b, color=color))
        row[f"niqe_sharp_{color}"] = float(niqe(s, color=color))
    return row


def largest_differences(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per metric, the largest |difference| between two conventions over the pairs."""
    spans: dict[str, float] = {}
    for metric in ("psnr", "ssim", "ssim_matlab"):
        for a, b in itertools.combinations(COLORS, 2):
            spans[f"{metric}: {a} vs {b}"] = max(abs(r[f"{metric}_{a}"] - r[f"{metric}_{b}"]) for r in rows)
    for image in ("blurry", "sharp"):
        for a, b in itertools.combinations(NIQE_COLORS, 2):
            spans[f"niqe ({image}): {a} vs {b}"] = max(
                abs(r[f"niqe_{image}_{a}"] - r[f"niqe_{image}_{b}"]) for r in rows
            )
    return spans


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# How much the colour convention changes PSNR, SSIM and NIQE",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}, torch {result['torch']}, code {result['code']}, {result['date']}.",
        "",
        "Blurry image scored against its sharp twin (PSNR, SSIM), and NIQE of each, under each convention "
        "(docs/conventions.md).",
        "",
        "| pair | PSNR rgb | PSNR y | PSNR gray | SSIM rgb | SSIM y | SSIM gray | NIQE blurry y | NIQE blurry gray |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["pairs"]:
        values = [row[k] for k in ("psnr_rgb", "psnr_y", "psnr_gray", "ssim_rgb", "ssim_y", "ssim_gray")]
        cells = [f"{v:.3f}" if i < 3 else f"{v:.4f}" for i, v in enumerate(values)]
        cells += [f"{row['niqe_blurry_y']:.3f}", f"{row['niqe_blurry_gray']:.3f}"]
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    lines += ["", "Largest difference between two conventions over these pairs:", "", "| metric | largest |"]
    lines += ["| --- | --- |"] + [f"| {k} | {v:.4f} |" for k, v in result["largest_differences"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metric_conventions", description=__doc__)
    parser.add_argument("--pairs", type=Path, required=True, help="folder of NAME.png / NAME_gt.png pairs")
    parser.add_argument("--limit", type=int, help="score only the first N pairs")
    parser.add_argument("--output", type=Path, help="also write a Markdown table here")
    args = parser.parse_args(argv)
    rows = []
    for name, blurry, sharp in pairs(args.pairs, args.limit):
        rows.append({"name": name, **score(read_image(blurry), read_image(sharp))})
        print(json.dumps(rows[-1]), file=sys.stderr)
    command = "python -m benchmarks.metric_conventions " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {
        "command": command,
        "machine": f"{cpu_name()} ({torch.get_num_threads()} threads), {platform.system()}",
        "torch": torch.__version__,
        "code": code_version() or "unknown",
        "date": datetime.date.today().isoformat(),
        "pairs": rows,
        "largest_differences": largest_differences(rows),
    }
    print(json.dumps(result))
    if args.output:
        atomic_write_text(args.output, markdown(result))
    return result


if __name__ == "__main__":
    main()
