"""Does test-time adaptation help? Image quality and speed with and without it, on the held-out synthetic pairs.

Usage::

    python -m benchmarks.adaptation --ckpt results/reblur_demo/checkpoints/last.ckpt \\
        [--config configs/reblur/demo.yaml] [--image_size 256] [--kernels_per_image K] \\
        [--metrics psnr,ssim,lpips,niqe] [--settings "steps=5,lr=1e-5" "steps=20,lr=1e-4,params=norm_bias"] \\
        [--device cpu] [--threads N] [--output docs/results/test_time_adaptation.md [--overwrite]]

**Model.** ``--config`` is the training YAML (``reblur fit --config``): :math:`M_D` and :math:`M_R` are
built from its ``model.deblur_net`` / ``model.reblur_net`` (``class_path`` + ``init_args``) and their
weights are read from the checkpoint's ``state_dict`` (keys ``deblur_net.*``, ``reblur_net.*``).

**Data.** The config's :class:`~reblur.data.SyntheticPairsDataModule`, test split: the held-out
images (the last ``val_images``) blurred with kernels whose seeds training never used. Only the
size of the pairs (``--image_size``, default 256: the networks are fully convolutional, and NIQE
needs at least 96x96 and is steadier with several 96x96 blocks) and the number of kernels per
held-out image (``--kernels_per_image``, default the config's) can be changed; every pair is used,
one image at a time. Note that for this DataModule validation and test are the same held-out set:
if the checkpoint was *chosen* on validation (a ``best`` checkpoint), the set is not fully unseen;
``last.ckpt`` was not chosen on it.

**Rows.** ``no adaptation``: :math:`M_D(B)` with the trained weights. Then one row per
``--settings`` entry: each image adapted on its own with :func:`reblur.adaptation.adapt`
(from the trained weights each time), then deblurred by the adapted copy. A setting is
``key=value`` pairs separated by commas, keys ``steps``, ``lr``, ``params`` (``all`` or
``norm_bias``), ``proximity_weight``, ``crop`` (adapt on the most detailed window of that side) and ``reblur_lr``
(:math:`M_R` adapts too); keys left
out take :func:`adapt`'s defaults. For each row:
the means over images of the metrics (predictions clamped to [0, 1]), of the per-image
self-reblurring loss :math:`\\|M_R(M_D(B)) - M_D(B)\\|_1` before and after adaptation, the median
and mean seconds per image (adaptation and deblurring: :attr:`Adaptation.seconds`, i.e. the copy of
:math:`M_D`, ``steps`` Adam steps and the final forward pass; for no adaptation the forward pass;
metrics not included), and per metric how many images scored better than without adaptation.
A metric undefined on an image (NIQE of an output that collapsed to a flat image) makes the row's
mean ``None`` ("undefined on k/N" in the table) instead of ending the run. As references: the blurry
inputs' metrics, the sharp targets' NIQE, and :math:`\\|M_R(x) - x\\|_1` of the blurry inputs and of
the sharp targets (if :math:`M_R` changes both alike, the loss carries no blur signal to adapt to).
One warm-up forward pass and one warm-up adaptation step run before any timing.

**Output.** One JSON object on stdout: ``machine`` (CPU name, torch version, threads, device),
the data, the checkpoint, ``references``, and ``rows`` (each with its ``per_image`` values). With
``--output``, also a Markdown report (the command, machine, date, code version and the table);
an existing file is refused unless ``--overwrite``, which keeps whatever follows the line
:data:`NOTES_MARKER` in the old file (the hand-written reading of the numbers).

LPIPS needs torchvision's AlexNet weights in the torch hub cache: without them the benchmark stops
before any work, saying how to seed the cache or to leave ``lpips`` out of ``--metrics``.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import torch
import yaml
from pytorch_lightning.cli import instantiate_class
from torch import nn

from benchmarks.common import (
    NOTES_MARKER,
    ReportExistsError,
    cell,
    code_version,
    cpu_name,
    synchronize,
    write_report,
)
from reblur.adaptation import PARAMETER_SETS, adapt
from reblur.data import SyntheticPairsDataModule
from reblur.losses import self_reblurring_loss
from reblur.metrics.image_quality import METRICS, ImageQualityMetrics

DEFAULT_CONFIG = "configs/reblur/demo.yaml"
DEFAULT_METRICS = "psnr,ssim,lpips,niqe"
# Steps x learning rate for all parameters, then the strongest of these with only biases, and with the
# proximity term: the grid of docs/results/test_time_adaptation.md.
DEFAULT_SETTINGS = (
    "steps=5,lr=1e-5",
    "steps=20,lr=1e-5",
    "steps=5,lr=1e-4",
    "steps=20,lr=1e-4",
    "steps=20,lr=1e-4,params=norm_bias",
    "steps=20,lr=1e-4,proximity_weight=1",
)
# adapt()'s defaults, for keys a setting leaves out.
# The options a setting may name, with reblur.adaptation.adapt's own defaults.
SETTING_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(adapt).parameters.items()
    if name in ("steps", "lr", "params", "proximity_weight", "crop", "reblur_lr")
}
NO_ADAPTATION = "no adaptation"
NIQE_MIN_SIDE = 96


class BenchmarkError(ValueError):
    """The benchmark cannot run as asked (the message says why)."""


# -- settings -----------------------------------------------------------------------------------
def parse_setting(text: str) -> dict[str, Any]:
    """``"steps=20,lr=1e-4"`` -> ``{"steps": 20, "lr": 1e-4, "params": "all", "proximity_weight": 0.0}``.

    >>> parse_setting("steps=0")["steps"], parse_setting("params=norm_bias,proximity_weight=1")["proximity_weight"]
    (0, 1.0)
    """
    setting = dict(SETTING_DEFAULTS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in SETTING_DEFAULTS:
            raise BenchmarkError(f"setting {text!r}: expected key=value with keys {sorted(SETTING_DEFAULTS)}")
        try:
            setting[key] = int(value) if key in ("steps", "crop") else value if key == "params" else float(value)
        except ValueError as error:
            raise BenchmarkError(f"setting {text!r}: bad value for {key}: {value!r}") from error
    if setting["steps"] < 0 or setting["lr"] <= 0 or setting["proximity_weight"] < 0 or setting["reblur_lr"] < 0:
        raise BenchmarkError(f"setting {text!r}: need steps >= 0, lr > 0, proximity_weight >= 0 and reblur_lr >= 0")
    if setting["params"] not in PARAMETER_SETS:
        raise BenchmarkError(f"setting {text!r}: params must be one of {PARAMETER_SETS}")
    return setting


def setting_label(setting: dict[str, Any]) -> str:
    """Short row label, e.g. ``"K=20, lr=1e-04, all, w=1"``."""
    label = f"K={setting['steps']}, lr={setting['lr']:.0e}, {setting['params']}, w={setting['proximity_weight']:g}"
    if setting.get("crop") is not None:
        label = f"{label}, crop {setting['crop']}"
    return label if not setting.get("reblur_lr") else f"{label}, M_R lr {setting['reblur_lr']:.0e}"


# -- model and data -----------------------------------------------------------------------------
def read_config(path: str | Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise BenchmarkError(f"cannot read the config {path}: {error}") from error
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise BenchmarkError(f"{path} has no `model:` section: pass the training YAML (reblur fit --config)")
    return config


def load_networks(config: dict[str, Any], ckpt: str | Path) -> tuple[nn.Module, nn.Module]:
    """:math:`M_D` and :math:`M_R` built from the config's ``model`` section, weights from ``ckpt``; eval mode, CPU."""
    nets = {}
    for key in ("deblur_net", "reblur_net"):
        spec = config["model"].get(key)
        if not isinstance(spec, dict) or "class_path" not in spec:
            why = "test-time adaptation needs M_R" if key == "reblur_net" else "the network to evaluate"
            raise BenchmarkError(f"the config's model.{key} must be a class_path + init_args ({why})")
        nets[key] = instantiate_class((), {"class_path": spec["class_path"], "init_args": spec.get("init_args") or {}})
    try:
        # Lightning checkpoints also hold optimizer states etc.; only the tensors of state_dict are needed.
        state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    except (OSError, KeyError, RuntimeError) as error:
        raise BenchmarkError(f"cannot read a Lightning checkpoint with a state_dict from {ckpt}: {error}") from error
    for key, net in nets.items():
        prefix = f"{key}."
        weights = {name[len(prefix) :]: value for name, value in state.items() if name.startswith(prefix)}
        try:
            net.load_state_dict(weights)
        except RuntimeError as error:
            raise BenchmarkError(f"{ckpt} does not fit the config's model.{key}: {error}") from error
        net.eval()
    return nets["deblur_net"], nets["reblur_net"]


def held_out_pairs(
    config: dict[str, Any], image_size: int, kernels_per_image: int | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The test split of the config's synthetic DataModule: items ``{"blurry", "sharp": (3, S, S), "name"}``,
    and a description of the data."""
    data = config.get("data") or {}
    init_args = dict(data.get("init_args") or {})
    class_path = data.get("class_path", "")
    init_args.update(image_size=image_size, num_workers=0, persistent_workers=False, val_batch_size=1)
    if kernels_per_image is not None:
        init_args["val_pairs_per_image"] = kernels_per_image
    try:
        datamodule = instantiate_class((), {"class_path": class_path, "init_args": init_args})
    except (ImportError, AttributeError, TypeError, ValueError) as error:
        raise BenchmarkError(f"cannot build the config's data module {class_path!r}: {error}") from error
    if not isinstance(datamodule, SyntheticPairsDataModule):
        raise BenchmarkError(f"the config's data must be a SyntheticPairsDataModule, got {class_path!r}")
    datamodule.setup("test")
    test_set = datamodule.test_set
    assert test_set is not None  # made by setup("test")
    items: list[dict[str, Any]] = [test_set[i] for i in range(len(test_set))]
    sources = sorted({item["name"].rsplit("/", 1)[0] for item in items})
    description = {
        "datamodule": class_path,
        "split": "test (held-out images, kernel seeds unused in training)",
        "images": sources,
        "kernels_per_image": len(items) // max(len(sources), 1),
        "pairs": len(items),
        "image_size": image_size,
        "kernel_size": datamodule.kernel_size,
        "blur_noise_sigma": datamodule.blur_noise_sigma,
        "seed": datamodule.seed,
    }
    return items, description


# -- measuring ----------------------------------------------------------------------------------
def deblur_once(
    deblur_net: nn.Module, reblur_net: nn.Module, blurry: torch.Tensor, setting: dict[str, Any] | None
) -> tuple[torch.Tensor, float, float, float]:
    """Deblur ``blurry`` ``(1, 3, H, W)``: ``(output (1, 3, H, W) unclamped, loss_before, loss_after, seconds)``.

    ``setting=None``: the trained network, no gradient; else :func:`adapt` with the setting.
    """
    if setting is None:
        synchronize(blurry.device)
        start = time.perf_counter()
        with torch.no_grad():
            output = deblur_net(blurry)
        synchronize(blurry.device)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            loss = float(self_reblurring_loss(reblur_net, output, "none")[0])
        return output, loss, loss, seconds
    result = adapt(deblur_net, reblur_net, blurry, **setting)
    return result.output, float(result.loss_before[0]), float(result.loss_after[0]), result.seconds


def run_row(
    deblur_net: nn.Module,
    reblur_net: nn.Module,
    items: Sequence[dict[str, Any]],
    setting: dict[str, Any] | None,
    scorers: dict[str, ImageQualityMetrics],
    device: torch.device,
) -> dict[str, Any]:
    """One table row: means over ``items`` and the ``per_image`` values (see the module docstring).

    A metric undefined on some image (see :func:`score`) has mean ``None`` and its count under ``undefined``.
    """
    per_image = []
    for item in items:
        blurry = item["blurry"][None].to(device)
        sharp = item["sharp"][None].to(device)
        output, before, after, seconds = deblur_once(deblur_net, reblur_net, blurry, setting)
        values = score(scorers, output, sharp)
        per_image.append(
            {"name": item["name"], **values, "loss_before": before, "loss_after": after, "seconds": seconds}
        )
    row: dict[str, Any] = {"setting": NO_ADAPTATION if setting is None else setting_label(setting)}
    row.update(setting or {"steps": 0})
    row["images"] = len(per_image)
    for key in [*scorers, "loss_before", "loss_after"]:
        row[key] = _mean([image[key] for image in per_image])
    undefined = {name: sum(image[name] is None for image in per_image) for name in scorers}
    row["undefined"] = {name: count for name, count in undefined.items() if count}
    times = [image["seconds"] for image in per_image]
    row["seconds_median"], row["seconds_mean"] = statistics.median(times), statistics.fmean(times)
    row["per_image"] = per_image
    return row


def score(
    scorers: dict[str, ImageQualityMetrics], prediction: torch.Tensor, target: torch.Tensor | None
) -> dict[str, float | None]:
    """Each metric of one image ``(1, 3, H, W)`` (prediction clamped to [0, 1] by the scorer); ``None``
    where the metric is undefined, as NIQE is for a flat image."""
    values: dict[str, float | None] = {}
    for name, scorer in scorers.items():
        try:
            values[name] = float(scorer.per_image(prediction, target)[name][0])
        except ValueError:
            # Too large a learning rate can collapse the output to a flat image; that must show in the
            # table, not end the run.
            values[name] = None
    return values


def _mean(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return None if len(present) < len(values) else statistics.fmean(present)


def count_better(row: dict[str, Any], baseline: dict[str, Any], names: Sequence[str]) -> dict[str, int]:
    """Per metric, how many images of ``row`` score strictly better than in ``baseline`` (same order)."""
    better = {}
    for name in names:
        sign = 1 if METRICS[name].higher_is_better else -1
        pairs = zip(row["per_image"], baseline["per_image"])
        better[name] = sum(
            mine[name] is not None and theirs[name] is not None and sign * (mine[name] - theirs[name]) > 0
            for mine, theirs in pairs
        )
    return better


def references(
    items: Sequence[dict[str, Any]],
    scorers: dict[str, ImageQualityMetrics],
    reblur_net: nn.Module,
    device: torch.device,
) -> dict[str, Any]:
    """What the rows are read against, means over ``items``: the blurry inputs' metrics, the sharp
    targets' NIQE (when NIQE is asked for), and :math:`\\|M_R(x) - x\\|_1` for the blurry inputs and for
    the sharp targets: the adaptation only has a signal to follow if :math:`M_R` changes the first
    clearly more than the second."""
    blurry_values: dict[str, list[float | None]] = {name: [] for name in scorers}
    target_niqe: list[float | None] = []
    reblur_blurry, reblur_sharp = [], []
    for item in items:
        blurry, sharp = item["blurry"][None].to(device), item["sharp"][None].to(device)
        for name, value in score(scorers, blurry, sharp).items():
            blurry_values[name].append(value)
        if "niqe" in scorers:
            target_niqe.append(score({"niqe": scorers["niqe"]}, sharp, None)["niqe"])
        with torch.no_grad():
            reblur_blurry.append(float(self_reblurring_loss(reblur_net, blurry, "none")[0]))
            reblur_sharp.append(float(self_reblurring_loss(reblur_net, sharp, "none")[0]))
    result: dict[str, Any] = {
        "blurry_input": {name: _mean(values) for name, values in blurry_values.items()},
        "reblur_loss_blurry_input": statistics.fmean(reblur_blurry),
        "reblur_loss_sharp_target": statistics.fmean(reblur_sharp),
    }
    if target_niqe:
        result["sharp_target_niqe"] = _mean(target_niqe)
    return result


def check_lpips() -> None:
    """Run LPIPS once on a small pair, so missing AlexNet weights stop the benchmark before any work."""
    try:
        METRICS["lpips"].compute(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))
    except RuntimeError as error:
        raise BenchmarkError(f"{error}\nOr leave LPIPS out, e.g. --metrics psnr,ssim,niqe") from error


def warm_up(deblur_net: nn.Module, reblur_net: nn.Module, blurry: torch.Tensor) -> None:
    """First calls allocate buffers and pick kernels; keep that out of the first image's time."""
    deblur_once(deblur_net, reblur_net, blurry, None)
    deblur_once(deblur_net, reblur_net, blurry, {**SETTING_DEFAULTS, "steps": 1})


# -- report -------------------------------------------------------------------------------------
DIGITS = {"psnr": 2, "ssim": 4, "ssim_matlab": 4, "lpips": 4, "niqe": 3}


def markdown(result: dict[str, Any]) -> str:
    """The Markdown report of a result of :func:`benchmark` (ends with :data:`NOTES_MARKER`)."""
    names = result["metrics"]
    machine, data = result["machine"], result["data"]
    arrows = {name: "↑" if METRICS[name].higher_is_better else "↓" for name in names}
    header = [
        "setting",
        *(f"{name.upper()} {arrows[name]}" for name in names),
        "reblur loss before",
        "reblur loss after",
        "s/image median",
        "s/image mean",
        *(f"better {name.upper()}" for name in names),
    ]
    lines = [
        "# Test-time adaptation on the held-out synthetic set",
        "",
        f"Command: `{result['command']}`",
        "",
        f"- Date: {result['date']}; code version: {result['code_version'] or 'unknown'}",
        f"- Machine: {machine['cpu']}, torch {machine['torch']}, {machine['threads']} threads, "
        f"device {machine['device']}",
        f"- Checkpoint: `{result['checkpoint']}`, config `{result['config']}`",
        f"- Data: {data['pairs']} pairs, {data['image_size']}x{data['image_size']}: held-out images "
        f"{', '.join(data['images'])}, {data['kernels_per_image']} kernels each ({data['kernel_size']}x"
        f"{data['kernel_size']}, seeds not used in training), noise sigma {data['blur_noise_sigma']}",
        "",
        "Each image is adapted on its own from the trained weights (K Adam steps, learning rate lr, parameters "
        "`all` or `norm_bias`, proximity weight w) with the self-reblurring loss of "
        "`reblur.adaptation.adapt`, then deblurred by the adapted copy. Metrics and losses are means "
        "over images; the self-reblurring loss is |M_R(x) - x| (mean absolute difference) of the output x before and "
        "after adaptation (of the blurry input itself in its row); seconds per image cover adaptation and "
        'deblurring, not the metrics. "better X" counts the images whose X beats no adaptation.',
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", *["---:"] * (len(header) - 1)]) + "|",
    ]
    refs = result["references"]
    blurry = refs["blurry_input"]
    loss = cell(refs["reblur_loss_blurry_input"], 5)
    reference = ["blurry input", *(cell(blurry[n], DIGITS.get(n, 4)) for n in names), loss, loss]
    reference += ["–"] * (2 + len(names))
    lines.append("| " + " | ".join(reference) + " |")
    for row in result["rows"]:
        better = row.get("better")
        undefined = row.get("undefined", {})
        cells = [
            row["setting"],
            *(
                f"undefined on {undefined[n]}/{row['images']}" if n in undefined else cell(row[n], DIGITS.get(n, 4))
                for n in names
            ),
            cell(row["loss_before"], 5),
            cell(row["loss_after"], 5),
            cell(row["seconds_median"], 3),
            cell(row["seconds_mean"], 3),
            *((f"{better[n]}/{row['images']}" if better else "–") for n in names),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    sharp = [f"self-reblurring loss {refs['reblur_loss_sharp_target']:.5f}"]
    if "sharp_target_niqe" in refs:
        sharp.insert(0, f"NIQE {cell(refs['sharp_target_niqe'], 3)}")
    lines += ["", f"Sharp targets (reference): {', '.join(sharp)}."]
    lines += ["", NOTES_MARKER, ""]
    return "\n".join(lines)


# -- entry point --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.adaptation", description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", required=True, help="Lightning checkpoint of the model trained with --config")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"training YAML (default {DEFAULT_CONFIG})")
    parser.add_argument("--image_size", type=int, default=256, help="side of the held-out pairs (default 256)")
    parser.add_argument("--kernels_per_image", type=int, help="kernels per held-out image (default: the config's)")
    parser.add_argument("--metrics", default=DEFAULT_METRICS, help=f"comma-separated (default {DEFAULT_METRICS})")
    parser.add_argument(
        "--settings",
        nargs="+",
        default=list(DEFAULT_SETTINGS),
        metavar="K=V,...",
        help="adaptation settings, keys steps, lr, params, proximity_weight, crop, reblur_lr (default: a grid of 6)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output (keeps its notes)")
    return parser


def benchmark(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Run the benchmark described by the parsed ``args``; returns the JSON-able result."""
    names = [name.strip() for name in args.metrics.split(",") if name.strip()]
    unknown = [name for name in names if name not in METRICS]
    if not names or unknown:
        raise BenchmarkError(f"--metrics: unknown {unknown or 'none given'}; available: {sorted(METRICS)}")
    settings = [parse_setting(text) for text in args.settings]
    if args.image_size < 1 or (args.kernels_per_image is not None and args.kernels_per_image < 1):
        raise BenchmarkError("--image_size and --kernels_per_image must be >= 1")
    if "niqe" in names and args.image_size < NIQE_MIN_SIDE:
        raise BenchmarkError(f"NIQE needs images of at least {NIQE_MIN_SIDE}x{NIQE_MIN_SIDE}; raise --image_size")
    if args.output is not None and args.output.exists() and not args.overwrite:
        raise BenchmarkError(
            f"{args.output} exists; pass --overwrite to replace it (its notes below the marker are kept)"
        )
    if "lpips" in names:
        check_lpips()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    config = read_config(args.config)
    deblur_net, reblur_net = load_networks(config, args.ckpt)
    deblur_net, reblur_net = deblur_net.to(device), reblur_net.to(device)
    items, data = held_out_pairs(config, args.image_size, args.kernels_per_image)
    # One scorer per metric, so that a metric undefined on an image leaves the others' values.
    scorers = {name: ImageQualityMetrics([name]) for name in names}

    warm_up(deblur_net, reblur_net, items[0]["blurry"][None].to(device))
    rows: list[dict[str, Any]] = []
    for setting in [None, *settings]:
        row = run_row(deblur_net, reblur_net, items, setting, scorers, device)
        if rows:
            row["better"] = count_better(row, rows[0], names)
        rows.append(row)
        summary = ", ".join(f"{key} {cell(row[key], 4)}" for key in [*names, "loss_before", "loss_after"])
        print(f"{row['setting']}: {summary}, {row['seconds_mean']:.3f} s/image", file=sys.stderr)
    return {
        "benchmark": "test-time adaptation (self-reblurring loss) on the held-out synthetic pairs",
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "code_version": code_version(),
        "machine": {
            "cpu": cpu_name(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": str(device) if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})",
        },
        "checkpoint": str(args.ckpt),
        "config": str(args.config),
        "data": data,
        "metrics": names,
        "references": references(items, scorers, reblur_net, device),
        "rows": rows,
    }


def _fail(message: str) -> NoReturn:
    print(f"benchmarks.adaptation: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the result it prints as JSON (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.adaptation", *argv])
    try:
        result = benchmark(args, command)
        if args.output is not None:
            write_report(args.output, markdown(result), args.overwrite)
    except (BenchmarkError, ReportExistsError) as error:
        _fail(str(error))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
