"""Scoring folders of results for ``reblur evaluate``: matching, per-image scores, means, tables.

The command, its options and the conventions (how images are read, matched and averaged) are described in
:mod:`reblur.evaluate`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from tqdm import tqdm

from deblur_core.cli_errors import UsageError, UserError
from deblur_core.files import atomic_write_csv, atomic_write_text
from deblur_core.image_io import ImageReadError, find_images, read_image
from reblur.metrics.image_quality import METRICS, ImageQualityMetrics

CSV_NAME = "per_image.csv"
JSON_NAME = "metrics.json"
MAX_LISTED = 20


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
            raise UserError(
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
    # repr keeps every digit of a float (and writes inf / nan as such).
    formatted = [{"path": row["path"], **{name: repr(row[name]) for name in names}} for row in rows]
    atomic_write_csv(path, formatted, ["path", *names])


def _write_json(path: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(_json_safe(summary), indent=2, allow_nan=False, ensure_ascii=False) + "\n")


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


def _device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise UsageError(f"--device {name!r}: {err}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name!r}: CUDA is not available on this machine")
    return device


def _build_metrics(names: list[str], options: argparse.Namespace) -> ImageQualityMetrics:
    try:
        return ImageQualityMetrics(
            names, crop_border=options.crop_border, color=options.color, niqe_color=options.niqe_color
        )
    except ValueError as err:
        raise UsageError(f"--metrics / --crop_border / --color: {err}") from err


def _folder_images(option: str, folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise UsageError(f"{option} '{folder}' is not a folder")
    images = find_images(folder, recursive=True)
    if not images:
        raise UsageError(f"{option} '{folder}' contains no image files")
    return images


def _metric_names(text: str | None, has_target: bool) -> list[str]:
    if text is None:
        return ["psnr", "ssim"] if has_target else ["niqe"]
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))  # drop repeats, keep order
    available = ", ".join(sorted(METRICS))
    if not names:
        raise UsageError(f"--metrics is empty; available: {available}")
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise UsageError(f"--metrics: unknown metric(s) {', '.join(unknown)}; available: {available}")
    return names


def evaluate_folders(options: argparse.Namespace) -> dict[str, Any]:
    """``reblur evaluate`` with parsed ``options`` (:func:`reblur.evaluate.build_parser`); returns the summary
    written to JSON (with float ``inf`` rather than the string). Bad options raise :class:`UsageError`, data
    that cannot be evaluated :class:`UserError` (the command prints either as one line)."""
    names = _metric_names(options.metrics, options.target is not None)
    needs_target = [n for n in names if METRICS[n].needs_target]
    if needs_target and options.target is None:
        no_reference = [n for n in METRICS if not METRICS[n].needs_target]
        raise UsageError(
            f"metric(s) {', '.join(needs_target)} compare with a reference: give --target DIR "
            f"(no-reference metrics: {', '.join(no_reference)})"
        )
    if options.crop_border < 0:
        raise UsageError(f"--crop_border must be >= 0, got {options.crop_border}")
    device = _device(options.device)
    predictions = _folder_images("--pred", options.pred)
    targets = None if options.target is None else _folder_images("--target", options.target)

    output = options.output or options.pred.resolve().with_name(options.pred.resolve().name + "_metrics")
    existing = [output / n for n in (CSV_NAME, JSON_NAME) if (output / n).exists()]
    if existing and not options.overwrite:
        raise UsageError(
            f"{', '.join(map(str, existing))} already exist(s); pass --overwrite to replace, or --output DIR"
        )
    metrics = _build_metrics(names, options)

    matching = match_files(list(predictions), None if targets is None else list(targets))
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
        lines = problem_lines(summary, options.pred, options.target)
        raise UserError("--strict and files do not match:\n" + "\n".join(lines))

    for prediction, target in tqdm(matching.pairs, desc="evaluate", unit="image", file=sys.stderr):
        # Target images are only read when a metric compares with them.
        target_path = targets[target] if targets is not None and target is not None and needs_target else None
        try:
            values = evaluate_pair(metrics, predictions[prediction], target_path, device)
        except _SkipError as why:
            summary["skipped"].append({"path": prediction, "reason": str(why)})
            continue
        summary["per_image"].append({"path": prediction, "target": target, **values})

    problems = problem_lines(summary, options.pred, options.target)
    rows = summary["per_image"]
    if not rows:
        raise UserError("no image could be evaluated:\n" + "\n".join(problems))
    if options.strict and summary["skipped"]:
        raise UserError("--strict and some pairs were skipped (nothing written):\n" + "\n".join(problems))
    summary["count"] = len(rows)
    summary["mean"] = {n: _mean([row[n] for row in rows]) for n in names}

    try:
        _write_csv(output / CSV_NAME, names, rows)
        _write_json(output / JSON_NAME, summary)
    except OSError as err:
        raise UserError(f"cannot write the results to '{output}': {err}") from err
    if problems:
        print("warning: not every file was evaluated\n" + "\n".join(problems), file=sys.stderr)
    print(format_table(summary))
    print(f"\nper image: {output / CSV_NAME}\nsummary:   {output / JSON_NAME}")
    return summary
