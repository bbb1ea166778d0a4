"""``reblur evaluate``: image quality metrics of a folder of predictions, per image and averaged.

Usage::

    reblur evaluate --pred results/test --target GOPRO_Large/test_sharp --metrics psnr,ssim,lpips
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
and exit with status 2 (options) or 1 (data).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import torch
from tqdm import tqdm

from deblur_core.conventions import FULL_REFERENCE_COLORS, NIQE_COLORS
from deblur_core.files import atomic_write
from deblur_core.image_io import ImageReadError, find_images, read_image
from reblur.metrics.image_quality import METRICS, ImageQualityMetrics

CSV_NAME = "per_image.csv"
JSON_NAME = "metrics.json"
MAX_LISTED = 20


class EvaluationError(ValueError):
    """The data cannot be evaluated as asked (the message names the files)."""


@dataclass
class Matching:
    """Prediction/target pairs as relative POSIX paths (target ``None`` without ``--target``), sorted."""

    pairs: list[tuple[str, str | None]]
    missing_predictions: list[str] = field(default_factory=list)
    unmatched_predictions: list[str] = field(default_factory=list)


def _without_suffix(relative: str) -> str:
    return PurePosixPath(relative).with_suffix("").as_posix()


def match_files(predictions: Sequence[str], targets: Sequence[str] | None) -> Matching:
    """Pair relative paths: exact first, then by path without suffix (see the module docstring).

    >>> m = match_files(["a.png", "s/b.png", "c.png"], ["a.png", "s/b.jpg", "d.png"])
    >>> m.pairs, m.missing_predictions, m.unmatched_predictions
    ([('a.png', 'a.png'), ('s/b.png', 's/b.jpg')], ['d.png'], ['c.png'])
    """
    if targets is None:
        return Matching([(p, None) for p in sorted(predictions)])
    exact = set(predictions) & set(targets)
    pairs = {p: p for p in exact}
    left_predictions = _by_stem(sorted(set(predictions) - exact))
    left_targets = _by_stem(sorted(set(targets) - exact))
    for stem in sorted(left_predictions.keys() & left_targets.keys()):
        candidates = left_predictions[stem] + left_targets[stem]
        if len(candidates) > 2:
            raise EvaluationError(
                f"ambiguous match for '{stem}' (paths differ only by suffix): predictions {left_predictions[stem]}, "
                f"targets {left_targets[stem]}; rename or remove the extra files"
            )
        pairs[left_predictions.pop(stem)[0]] = left_targets.pop(stem)[0]
    return Matching(
        pairs=sorted(pairs.items()),
        missing_predictions=sorted(p for paths in left_targets.values() for p in paths),
        unmatched_predictions=sorted(p for paths in left_predictions.values() for p in paths),
    )


def _by_stem(relatives: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for relative in relatives:
        groups.setdefault(_without_suffix(relative), []).append(relative)
    return groups


class _SkipError(Exception):
    """One pair cannot be evaluated; the message says why and names the files."""


def _read(path: Path) -> torch.Tensor:
    try:
        return read_image(path)
    except (OSError, ImageReadError) as err:
        raise _SkipError(str(err)) from err


def evaluate_pair(
    metrics: ImageQualityMetrics, prediction_path: Path, target_path: Path | None, device: torch.device
) -> dict[str, float]:
    """``{metric: value}`` of one prediction (and its target, or ``None`` when no metric needs one).

    Raises :class:`_SkipError` with a reason naming the file(s) when the pair cannot be evaluated.
    """
    prediction = _read(prediction_path)
    target = None if target_path is None else _read(target_path)
    if target is not None and prediction.shape != target.shape:
        raise _SkipError(
            f"prediction '{prediction_path}' is {_describe(prediction)} but target '{target_path}' is "
            f"{_describe(target)}"
        )
    if "lpips" in metrics.names and prediction.shape[0] != 3:
        raise _SkipError(f"LPIPS needs RGB images, '{prediction_path}' has {prediction.shape[0]} channel(s)")
    with torch.no_grad():
        try:
            values = metrics.per_image(prediction[None].to(device), None if target is None else target[None].to(device))
        except ValueError as err:
            # e.g. an image smaller than NIQE's 96x96 block or SSIM's window, or a flat image for NIQE
            raise _SkipError(f"'{prediction_path}': {err}") from err
    return {name: float(value[0]) for name, value in values.items()}


def _describe(image: torch.Tensor) -> str:
    channels, height, width = image.shape
    return f"{height}x{width} with {channels} channel{'s' if channels != 1 else ''}"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as the strings ``"inf"``, ``"-inf"``, ``"nan"`` (JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _write_csv(path: Path, names: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", *names])
            for row in rows:
                writer.writerow([row["path"], *(repr(row[name]) for name in names)])

    atomic_write(path, write)


def _write_json(path: Path, summary: dict[str, Any]) -> None:
    text = json.dumps(_json_safe(summary), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _format_value(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def format_table(summary: dict[str, Any]) -> str:
    """A Markdown table: image count and the mean of each metric, ``↑``/``↓`` for the better direction.

    >>> print(format_table({"count": 2, "mean": {"psnr": float("inf"), "niqe": 4.5},
    ...                     "higher_is_better": {"psnr": True, "niqe": False}}))
    | images | psnr ↑ | niqe ↓ |
    |-------:|-------:|-------:|
    |      2 |    inf | 4.5000 |
    """
    header = ["images"] + [f"{n} {'↑' if summary['higher_is_better'][n] else '↓'}" for n in summary["mean"]]
    cells = [str(summary["count"])] + [_format_value(v) for v in summary["mean"].values()]
    widths = [max(len(h), len(c)) for h, c in zip(header, cells)]
    lines = [
        "| " + " | ".join(h.rjust(w) for h, w in zip(header, widths)) + " |",
        "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|",
        "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |",
    ]
    return "\n".join(lines)


def problem_lines(summary: dict[str, Any], pred: Path, target: Path | None) -> list[str]:
    """Human-readable lines listing missing, unmatched and skipped files (at most ``MAX_LISTED`` each)."""
    groups = [
        (f"target(s) in '{target}' without prediction in '{pred}'", summary["missing_predictions"]),
        (f"prediction(s) in '{pred}' without target in '{target}'", summary["unmatched_predictions"]),
        ("pair(s) skipped", [f"{s['path']}: {s['reason']}" for s in summary["skipped"]]),
    ]
    lines = []
    for title, items in groups:
        if items:
            lines.append(f"{len(items)} {title}:")
            lines += [f"  - {item}" for item in items[:MAX_LISTED]]
            if len(items) > MAX_LISTED:
                lines.append(f"  ... and {len(items) - MAX_LISTED} more (all listed in {JSON_NAME})")
    return lines


def _metric_names(text: str | None, has_target: bool) -> list[str]:
    if text is None:
        return ["psnr", "ssim"] if has_target else ["niqe"]
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))  # drop repeats, keep order
    if not names:
        raise argparse.ArgumentTypeError(f"--metrics is empty; available: {','.join(sorted(METRICS))}")
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"--metrics: unknown metric(s) {', '.join(unknown)}; available: {', '.join(sorted(METRICS))}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reblur evaluate",
        description="Image quality metrics of a folder of predictions, per image (CSV, JSON) and averaged (table).",
    )
    parser.add_argument("--pred", required=True, type=Path, help="folder of predicted images (searched recursively)")
    parser.add_argument("--target", type=Path, help="folder of reference images; needed by full-reference metrics")
    parser.add_argument(
        "--metrics",
        help=f"comma-separated, from {','.join(sorted(METRICS))} (default: psnr,ssim with --target, else niqe)",
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


def _device(parser: argparse.ArgumentParser, name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        parser.error(f"--device {name!r}: {err}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {name!r}: CUDA is not available on this machine")
    return device


def _build_metrics(parser: argparse.ArgumentParser, names: list[str], options: argparse.Namespace):
    try:
        return ImageQualityMetrics(
            names, crop_border=options.crop_border, color=options.color, niqe_color=options.niqe_color
        )
    except ValueError as err:
        parser.error(f"--metrics / --crop_border / --color: {err}")


def _folder_images(parser: argparse.ArgumentParser, option: str, folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        parser.error(f"{option} '{folder}' is not a folder")
    images = find_images(folder, recursive=True)
    if not images:
        parser.error(f"{option} '{folder}' contains no image files")
    return images


def _fail(message: str) -> NoReturn:
    print(f"reblur evaluate: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run ``reblur evaluate`` with ``argv`` (default ``sys.argv[1:]``); returns the summary written to JSON
    (with float ``inf`` rather than the string). Errors exit through ``SystemExit`` (see the module docstring)."""
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        names = _metric_names(options.metrics, options.target is not None)
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    needs_target = [n for n in names if METRICS[n].needs_target]
    if needs_target and options.target is None:
        no_reference = [n for n in METRICS if not METRICS[n].needs_target]
        parser.error(
            f"metric(s) {', '.join(needs_target)} compare with a reference: give --target DIR "
            f"(no-reference metrics: {', '.join(no_reference)})"
        )
    if options.crop_border < 0:
        parser.error(f"--crop_border must be >= 0, got {options.crop_border}")
    device = _device(parser, options.device)
    predictions = _folder_images(parser, "--pred", options.pred)
    targets = None if options.target is None else _folder_images(parser, "--target", options.target)

    output = options.output or options.pred.resolve().with_name(options.pred.resolve().name + "_metrics")
    existing = [output / n for n in (CSV_NAME, JSON_NAME) if (output / n).exists()]
    if existing and not options.overwrite:
        parser.error(f"{', '.join(map(str, existing))} already exist(s); pass --overwrite to replace, or --output DIR")
    metrics = _build_metrics(parser, names, options)

    try:
        matching = match_files(list(predictions), None if targets is None else list(targets))
    except EvaluationError as err:
        _fail(str(err))
    summary: dict[str, Any] = {
        "pred": str(options.pred.resolve()),
        "target": None if options.target is None else str(options.target.resolve()),
        "options": {
            "metrics": names,
            "crop_border": options.crop_border,
            "color": options.color,
            "niqe_color": options.niqe_color,
            "device": str(device),
            "strict": options.strict,
        },
        "count": 0,
        "mean": {},
        "higher_is_better": {n: METRICS[n].higher_is_better for n in names},
        "per_image": [],
        "missing_predictions": matching.missing_predictions,
        "unmatched_predictions": matching.unmatched_predictions,
        "skipped": [],
    }
    if options.strict and (matching.missing_predictions or matching.unmatched_predictions):
        _fail("--strict and files do not match:\n" + "\n".join(problem_lines(summary, options.pred, options.target)))

    for prediction, target in tqdm(matching.pairs, desc="evaluate", unit="image", file=sys.stderr):
        # Target images are only read when a metric compares with them.
        target_path = targets[target] if target is not None and needs_target else None
        try:
            values = evaluate_pair(metrics, predictions[prediction], target_path, device)
        except _SkipError as why:
            summary["skipped"].append({"path": prediction, "reason": str(why)})
            continue
        summary["per_image"].append({"path": prediction, "target": target, **values})

    problems = problem_lines(summary, options.pred, options.target)
    rows = summary["per_image"]
    if not rows:
        _fail("no image could be evaluated:\n" + "\n".join(problems))
    if options.strict and summary["skipped"]:
        _fail("--strict and some pairs were skipped (nothing written):\n" + "\n".join(problems))
    summary["count"] = len(rows)
    summary["mean"] = {n: _mean([row[n] for row in rows]) for n in names}

    try:
        _write_csv(output / CSV_NAME, names, rows)
        _write_json(output / JSON_NAME, summary)
    except OSError as err:
        _fail(f"cannot write the results to '{output}': {err}")
    if problems:
        print("warning: not every file was evaluated\n" + "\n".join(problems), file=sys.stderr)
    print(format_table(summary))
    print(f"\nper image: {output / CSV_NAME}\nsummary:   {output / JSON_NAME}")
    return summary


if __name__ == "__main__":
    main()
