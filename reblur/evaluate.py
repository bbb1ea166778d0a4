"""``reblur evaluate``: image quality metrics of a folder of predictions, per image and averaged.

Usage::

    reblur evaluate --pred results/test --target SHARP_DIR --metrics psnr,ssim,lpips
    reblur evaluate --pred results/test --metrics niqe                      # no-reference: no --target
    reblur evaluate --pred P --target T --crop_border 4 --color y --output eval --overwrite --strict

Images are read as ``(C, H, W)`` float32 in [0, 1] (:func:`deblur_core.image_io.read_image`) and
evaluated one at a time (frames may differ in size) with the per-image metrics of
:data:`reblur.metrics.METRICS`; a dataset is summarised by the mean of the per-image values.
Default metrics: ``psnr,ssim`` with ``--target``, ``niqe`` without.

**Matching.** Files are found recursively (hidden files and non-image suffixes ignored) and a
prediction is paired with the target of the same relative path (``sub/a.png`` with ``sub/a.png``).
Files left over are then paired by relative path without the suffix (``sub/a.png`` with
``sub/a.jpg``); two left-over files of one folder with the same path-without-suffix that could both
match are an error naming them. Targets without prediction (``missing_predictions``) and predictions
without target (``unmatched_predictions``) are reported on stderr and in the JSON, and the matched
pairs are evaluated. A pair that cannot be evaluated (unreadable file, different sizes or channel
counts, image too small for a metric such as NIQE's 96x96) is skipped as a whole (no metric of it is
counted, so every mean is over the same images) and listed with the reason under ``skipped``.
``--strict`` turns any of these into an error (exit status 1, nothing written).

**Outputs** (in ``--output``, default ``<pred>_metrics`` beside the prediction folder), written
atomically; existing ones are refused unless ``--overwrite``:

- ``per_image.csv``: columns ``path`` (relative to ``--pred``) and one per metric.
- ``metrics.json``: ``mean`` and ``count``, ``per_image`` rows (with the matched ``target`` path),
  ``higher_is_better``, the ``options`` used, ``missing_predictions``, ``unmatched_predictions`` and
  ``skipped`` (``{"path", "reason"}``). JSON has no infinity, so non-finite values (PSNR of identical
  images is ``inf``, and then so is the mean) are written as the strings ``"inf"``, ``"-inf"``,
  ``"nan"``; the CSV writes ``inf`` too, which ``float()`` reads back.

A Markdown table of the means (``↑`` higher is better, ``↓`` lower is better) is printed to stdout.
Errors in the options or the data print ``reblur evaluate: error: ...`` naming the option or file
and exit with status 2 (options) or 1 (data). The scoring is :mod:`reblur.folder_evaluation`; this module
imports no torch, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deblur_core.cli_errors import OneLineArgumentParser, run_command
from deblur_core.conventions import FULL_REFERENCE_COLORS, NIQE_COLORS
from reblur.metric_names import METRIC_NAMES

PROGRAM = "reblur evaluate"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROGRAM,
        description="Image quality metrics of a folder of predictions, per image (CSV, JSON) and averaged (table).",
    )
    parser.add_argument("--pred", required=True, type=Path, help="folder of predicted images (searched recursively)")
    parser.add_argument("--target", type=Path, help="folder of reference images; needed by full-reference metrics")
    parser.add_argument(
        "--metrics",
        help=f"comma-separated, from {','.join(METRIC_NAMES)} (default: psnr,ssim with --target, else niqe); "
        "docs/conventions.md",
    )
    parser.add_argument(
        "--output", type=Path, help="folder for per_image.csv and metrics.json (default: <pred>_metrics)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing per_image.csv / metrics.json")
    parser.add_argument("--strict", action="store_true", help="missing, unmatched or skipped files are an error")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--crop_border", type=int, default=0, help="pixels cropped from each border before metrics")
    parser.add_argument(
        "--color",
        choices=FULL_REFERENCE_COLORS,
        default="rgb",
        help="what PSNR and SSIM compare: rgb (every channel; default), y (BasicSR's Y: BT.601 studio-range luma of "
        "MATLAB's rgb2ycbcr) or gray (MATLAB's rgb2gray); see docs/conventions.md",
    )
    parser.add_argument(
        "--niqe_color",
        choices=NIQE_COLORS,
        default="y",
        help="the gray level NIQE scores: y (default; BasicSR's convert_to='y') or gray (MATLAB's niqe, pyiqa)",
    )
    return parser


def _run(argv: list[str]) -> dict[str, Any]:
    options = build_parser().parse_args(argv)
    from reblur.folder_evaluation import evaluate_folders

    return evaluate_folders(options)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run ``reblur evaluate`` with ``argv`` (default ``sys.argv[1:]``); returns the summary written to JSON
    (with float ``inf`` rather than the string). Errors print one line and exit through ``SystemExit``."""
    return run_command(PROGRAM, argv, _run)


if __name__ == "__main__":
    main()
