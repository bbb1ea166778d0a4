"""``selfdeblur evaluate``: score a results folder with Levin et al.'s protocol (:mod:`selfdeblur.evaluation`).

Usage::

    selfdeblur evaluate --results results/levin --dataset levin [--data data/levin] [--delta]
    selfdeblur evaluate --results results/lai --dataset lai --data /path/to/lai

Writes ``per_image.csv``, ``means.csv`` and ``table.md`` to ``--output`` (default ``RESULTS/evaluation``).
The parser is built before torch is imported, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from deblur_core.cli_errors import OneLineArgumentParser, run_command

PROGRAM = "selfdeblur evaluate"

LEVIN_MAX_SHIFT = 10  # px: Levin et al.'s comp_upto_shift.m (selfdeblur.levin_protocol.LEVIN_MAX_SHIFT)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROGRAM,
        description="Score a results folder of selfdeblur fit with Levin et al.'s protocol (Levin's or Lai's set).",
    )
    parser.add_argument("--results", required=True, help="folder written by selfdeblur fit")
    parser.add_argument("--dataset", default="levin", choices=["levin", "lai"], help="benchmark protocol")
    parser.add_argument("--data", help="benchmark folder (default: the folder of the results' blurry images)")
    parser.add_argument("--output", help="where to write (default RESULTS/evaluation)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing evaluation files")
    parser.add_argument("--max_shift", type=float, default=LEVIN_MAX_SHIFT, help="alignment bound in px")
    parser.add_argument("--delta", action="store_true", help="also score non-blind deconvolution with the kernel")
    parser.add_argument("--smoothness", type=float, default=0.001, help="prior weight of the non-blind deconvolution")
    parser.add_argument("--names", nargs="+", help="score only images matching these patterns, e.g. '*_01_kernel_*'")
    return parser


def _run(argv: list[str]) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    from selfdeblur.evaluation import evaluate

    return evaluate(**vars(args))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run ``selfdeblur evaluate`` with ``argv`` (default ``sys.argv[1:]``); returns the rows, means and missing
    names. Errors print one line and exit through ``SystemExit`` (:mod:`deblur_core.cli_errors`)."""
    return run_command(PROGRAM, argv, _run)


if __name__ == "__main__":
    main()
