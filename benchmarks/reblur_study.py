r"""Does the reblurring loss do what Nah et al. (ICLR 2022) claim, at a scale 2 CPU cores train in about two hours?

Usage::

    python -m benchmarks.reblur_study --out runs/reblur_study [--data ../shared/data] [--quick]
        [--report docs/results/reblur_study]          # also write the Markdown table and JSON there
        [--methods l1,reblur_n1]                      # a subset now, the rest later (same --out)

**Design.** Every method trains the same U-Net :math:`M_D` for the same number of iterations on the same data with
the same seed. To fit the budget, the first ``pretrain_iterations`` are shared: one L1 run (phase ``pretrain``),
whose weights start every method; then each method trains ``iterations`` more:

* ``l1``: :math:`\|M_D(B) - S\|_1` (the baseline);
* ``reblur_n1`` / ``reblur_n2``: L1 + the reblurring loss :math:`\|M_R(M_D(B)) - M_R(S)\|_1` with a fresh
  :math:`M_R` of 1 or 2 ResBlocks, trained alternately with :math:`\mathcal{L}_\text{Blur} + \mathcal{L}_\text{Sharp}`
  on pseudo-sharp :math:`M_D(S)`; :math:`M_R` trains alone for ``reblur_start`` iterations first (the
  reblurring loss of an untrained :math:`M_R` carries no signal), :math:`M_D` keeps its L1 steps meanwhile;
* ``vgg``: L1 + :math:`\mu` VGG16 perceptual loss (torchvision's ImageNet VGG16 ``features`` up to ``vgg_layer``:
  the only ImageNet VGG weights these machines have, seeded by ``../shared/tools/seed_torch_hub.py``);
  :math:`\mu` is set once so that the perceptual term equals the L1 term on a fixed batch at the start.

Data: :mod:`benchmarks.reblur_study_data`. Validation every ``val_every`` iterations logs PSNR and the reblurring
module's response (:mod:`reblur.reblur_response`: how far :math:`M_R` moves blurry, deblurred and sharp images
toward the blurry input) to ``OUT/<phase>/metrics.csv``. Each trained :math:`M_D` (and the shared start) is then
evaluated on the two test sets: PSNR and SSIM (RGB), LPIPS (AlexNet), NIQE (Y), the seconds per image, and for
reblurring models the response of :math:`M_R` on the test images.

**Resuming.** Every phase checkpoints every ``checkpoint_every`` iterations (``OUT/<phase>/checkpoints/last.ckpt``,
with the random states) and writes ``OUT/<phase>/train.json`` when done, each evaluation ``OUT/<phase>/eval.json``;
rerunning the same command skips what is done and continues a phase from its last checkpoint.

**Output.** One JSON object on stdout (and ``OUT/study.json``); with ``--report PREFIX`` also ``PREFIX.md`` (the
tables, command, machine, torch and code version; text below the notes marker of an existing file is kept) and
``PREFIX.json``. ``--quick`` runs tiny sizes (a test runs it; its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import functools
import json
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from torch import nn

from benchmarks.common import NOTES_MARKER, StepTimer, cell, code_version, cpu_name, write_report
from benchmarks.reblur_study_data import (
    GOPRO_TEST_SEQUENCES,
    GOPRO_TRAIN_SEQUENCES,
    BlurSettings,
    test_sets,
    training_pairs,
    validation_pairs,
)
from deblur_core.files import atomic_write_text
from reblur.callbacks import RandomStateCheckpoint
from reblur.data import PairedDataModule, TensorPair
from reblur.lightning_module import ReblurTraining
from reblur.losses import VGGPerceptualLoss, l1
from reblur.metrics.image_quality import METRICS, ImageQualityMetrics
from reblur.networks import ReblurringModule, UNet
from reblur.options import DeblurLoss, Evaluation, NetworkUpdates
from reblur.reblur_response import reblur_response


@dataclass(frozen=True)
class Phase:
    """One training run of the study.

    ``kind``: ``"pretrain"`` (the shared start), ``"method"`` (a compared method, trained from the shared start) or
    ``"warmup"`` (M_R alone against the fixed start); ``reblur_blocks``: the ResBlocks of its :math:`M_R`
    (``None``: no M_R); ``warmup``: the phase whose M_R it starts from (then its reblurring loss acts from the first
    iteration); ``perceptual``: L1 + VGG16 instead of L1.
    """

    name: str
    label: str
    kind: Literal["pretrain", "method", "warmup"] = "method"
    reblur_blocks: int | None = None
    warmup: str | None = None
    perceptual: bool = False


PHASES = {
    phase.name: phase
    for phase in (
        Phase("pretrain", "shared start (L1)", kind="pretrain"),
        Phase("l1", "L1"),
        Phase("reblur_n1", "L1 + reblur (n1)", reblur_blocks=1),
        Phase("reblur_n2", "L1 + reblur (n2)", reblur_blocks=2),
        Phase("vgg", "L1 + VGG16", perceptual=True),
        Phase("reblur_n1_warm", "L1 + reblur (n1, M_R warmed)", reblur_blocks=1, warmup="warmup_n1"),
        Phase("reblur_n2_warm", "L1 + reblur (n2, M_R warmed)", reblur_blocks=2, warmup="warmup_n2"),
        Phase("warmup_n1", "M_R warm-up (n1)", kind="warmup", reblur_blocks=1),
        Phase("warmup_n2", "M_R warm-up (n2)", kind="warmup", reblur_blocks=2),
    )
}
METHODS = tuple(name for name, phase in PHASES.items() if phase.kind == "method")
# The warm-started methods and the phase that trains their M_R alone first.
WARMUPS = {name: phase.warmup for name, phase in PHASES.items() if phase.warmup is not None}
METRIC_ORDER = ("psnr", "ssim", "lpips", "niqe")


@dataclass(frozen=True)
class StudySize:
    """Everything that sets the study's cost (and the data's blur)."""

    pretrain_iterations: int = 5000
    iterations: int = 1500
    crop_size: int = 128
    batch_size: int = 8
    channels: tuple[int, ...] = (16, 32, 64, 128)
    reblur_channels: int = 16
    reblur_start: int = 300
    reblur_warmup: int = 1200
    lr_pretrain: float = 2e-3
    lr: float = 3e-4
    vgg_layer: str = "relu2_2"
    val_every: int = 300
    checkpoint_every: int = 250
    blur: BlurSettings = field(default_factory=BlurSettings)
    max_test_images: int | None = None
    seed: int = 0


FULL = StudySize()
QUICK = StudySize(
    pretrain_iterations=6,
    iterations=4,
    crop_size=32,
    batch_size=2,
    channels=(4, 8),
    reblur_channels=4,
    reblur_start=2,
    reblur_warmup=3,
    val_every=2,
    checkpoint_every=3,
    max_test_images=1,
)


class StudyData(PairedDataModule):
    """The study's pairs, given in memory (:meth:`use`); validation serves the validation pairs."""

    def use(self, train: list[TensorPair], val: list[TensorPair]) -> StudyData:
        self._lists = {"train": train, "val": val, "test": val}
        return self

    def pairs(self, split: Any) -> list[TensorPair]:
        return self._lists[split]


# -- the phases -----------------------------------------------------------------------------------
def adam(lr: float) -> Any:
    return lambda params: torch.optim.Adam(params, lr=lr)


def cosine(iterations: int, eta_min: float) -> Any:
    return lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations, eta_min)


def reblur_blocks(phase: str) -> int | None:
    """The number of ResBlocks of the phase's :math:`M_R` (``reblur_n2_warm`` -> 2), or ``None`` without one."""
    return PHASES[phase].reblur_blocks


def phase_iterations(phase: str, size: StudySize) -> int:
    kind = PHASES[phase].kind
    if kind == "pretrain":
        return size.pretrain_iterations
    return size.reblur_warmup if kind == "warmup" else size.iterations


def build_module(phase: str, size: StudySize, vgg_weight: float = 0.0) -> ReblurTraining:
    """The LightningModule of a phase: ``"pretrain"``, a warm-up (``"warmup_n1"``) or one of :data:`METHODS`."""
    spec = PHASES[phase]
    iterations = phase_iterations(phase, size)
    lr = size.lr_pretrain if spec.kind == "pretrain" else size.lr
    reblur_net = None
    loss = DeblurLoss(reblur_weight=0.0)
    if spec.reblur_blocks is not None:
        reblur_net = ReblurringModule(n_blocks=spec.reblur_blocks, channels=size.reblur_channels)
        start = size.reblur_start
        if spec.kind == "warmup":
            # M_R alone against a fixed M_D: the reblurring loss never starts and M_D does not move (lr 0).
            start, lr = iterations + 1, 0.0
        elif spec.warmup is not None:
            start = 0
        loss = DeblurLoss(reblur_weight=1.0, pseudo_sharp=True, reblur_start=start)
    elif spec.perceptual:
        loss = DeblurLoss(reblur_weight=0.0, perceptual_weight=vgg_weight, perceptual_arch="vgg16")
        loss = replace(loss, perceptual_layer=size.vgg_layer)
    return ReblurTraining(
        UNet(channels=size.channels),
        reblur_net,
        loss=loss,
        deblur_updates=NetworkUpdates(optimizer=adam(lr), scheduler=cosine(iterations, lr / 100)),
        reblur_updates=NetworkUpdates(optimizer=adam(1e-3)),
        evaluation=Evaluation(metrics=("psnr",)),
    )


def vgg_balance(deblur_net: nn.Module, data: StudyData, layer: str) -> float:
    """:math:`\\mu` with :math:`\\mu \\cdot` VGG = L1 on the first 8 validation pairs, deblurred by ``deblur_net``."""
    pairs = data.pairs("val")[:8]
    blurry = torch.stack([p.blurry for p in pairs])
    sharp = torch.stack([p.sharp for p in pairs])
    with torch.no_grad():
        deblurred = deblur_net(blurry)
        perceptual = VGGPerceptualLoss("vgg16", layer)(deblurred, sharp)
        return float(l1(deblurred, sharp) / perceptual)


def train_phase(
    out: Path, phase: str, size: StudySize, data: StudyData, start: Path | None, reblur_start: Path | None = None
) -> dict[str, Any]:
    """Train one phase (resuming from its last checkpoint) from the M_D weights ``start`` (and the M_R weights
    ``reblur_start``); returns its ``train.json`` record."""
    folder = out / phase
    done = folder / "train.json"
    if done.exists():
        return json.loads(done.read_text())
    pl.seed_everything(size.seed, workers=True)
    vgg_weight = 0.0
    start_net = None
    if start is not None:
        start_net = UNet(channels=size.channels)
        start_net.load_state_dict(torch.load(start, map_location="cpu", weights_only=True))
        start_net.eval()
        if PHASES[phase].perceptual:
            vgg_weight = vgg_balance(start_net, data, size.vgg_layer)
    module = build_module(phase, size, vgg_weight)
    if start_net is not None:
        module.deblur_net.load_state_dict(start_net.state_dict())
    if reblur_start is not None:
        assert module.reblur_net is not None
        module.reblur_net.load_state_dict(torch.load(reblur_start, map_location="cpu", weights_only=True))
    steps = module.optimizer_steps_per_iteration
    clock = StepTimer()
    checkpoints = ModelCheckpoint(
        dirpath=folder / "checkpoints", save_last=True, save_top_k=0, every_n_train_steps=size.checkpoint_every * steps
    )
    iterations = phase_iterations(phase, size)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=iterations,
        val_check_interval=size.val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        logger=CSVLogger(out, name=phase, version=""),
        callbacks=[checkpoints, RandomStateCheckpoint(), clock],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=50,
        default_root_dir=folder,
    )
    last = folder / "checkpoints" / "last.ckpt"
    if last.exists():
        print(f"{phase}: resuming from {last}", file=sys.stderr, flush=True)
    trainer.fit(module, datamodule=data, ckpt_path=last if last.exists() else None)
    torch.save(module.deblur_net.state_dict(), folder / "deblur_net.pt")
    if module.reblur_net is not None:
        torch.save(module.reblur_net.state_dict(), folder / "reblur_net.pt")
    record = {
        "phase": phase,
        "iterations": iterations,
        "train_seconds": round(sum(clock.seconds), 1),
        "seconds_per_iteration": round(sum(clock.seconds) / iterations, 4),
        "vgg_weight": vgg_weight or None,
        "loss": asdict(module.loss),
    }
    atomic_write_text(done, json.dumps(record, indent=1))
    return record


# -- evaluation -----------------------------------------------------------------------------------
def load_nets(out: Path, phase: str, size: StudySize) -> tuple[nn.Module, nn.Module | None]:
    deblur_net = UNet(channels=size.channels)
    deblur_net.load_state_dict(torch.load(out / phase / "deblur_net.pt", map_location="cpu", weights_only=True))
    reblur_net = None
    blocks = reblur_blocks(phase)
    if blocks is not None:
        reblur_net = ReblurringModule(n_blocks=blocks, channels=size.reblur_channels)
        reblur_net.load_state_dict(torch.load(out / phase / "reblur_net.pt", map_location="cpu", weights_only=True))
        reblur_net.eval()
    return deblur_net.eval(), reblur_net


@functools.cache
def scorer(names: tuple[str, ...] = METRIC_ORDER) -> ImageQualityMetrics:
    """The metrics' per-image scorer, in the conventions of validation's defaults (PSNR/SSIM on RGB, NIQE on Y)."""
    return ImageQualityMetrics(list(names))


def scores(prediction: torch.Tensor, sharp: torch.Tensor) -> dict[str, float]:
    """The metrics of one ``(1, 3, H, W)`` image (prediction clamped to [0, 1])."""
    return {name: float(value[0]) for name, value in scorer().per_image(prediction, sharp).items()}


def means(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, float]:
    return {key: statistics.fmean(row[key] for row in rows) for key in keys}


def evaluate_phase(out: Path, phase: str, size: StudySize, sets: dict[str, list[TensorPair]]) -> dict[str, Any]:
    """Metrics of the phase's :math:`M_D` on each test set (and :math:`M_R`'s response); ``eval.json``."""
    done = out / phase / "eval.json"
    if done.exists():
        return json.loads(done.read_text())
    deblur_net, reblur_net = load_nets(out, phase, size)
    result: dict[str, Any] = {}
    for set_name, pairs in sets.items():
        rows = []
        for pair in pairs:
            blurry, sharp = pair.blurry[None], pair.sharp[None]
            with torch.no_grad():
                started = time.perf_counter()
                deblurred = deblur_net(blurry)
                seconds = time.perf_counter() - started
                row: dict[str, Any] = {"name": pair.name, **scores(deblurred, sharp), "seconds": seconds}
                if reblur_net is not None:
                    pseudo_sharp = deblur_net(sharp)
                    for kind, image in (("deblurred", deblurred), ("sharp", sharp), ("pseudo_sharp", pseudo_sharp)):
                        response = reblur_response(reblur_net, image, blurry)
                        row[f"move_{kind}"] = float(response["move"][0])
                        row[f"toward_blurry_{kind}"] = float(response["toward_blurry"][0])
                    row["move_blurry"] = float(reblur_response(reblur_net, blurry, blurry)["move"][0])
            rows.append(row)
        keys = [key for key in rows[0] if key != "name"]
        result[set_name] = {"mean": means(rows, keys), "per_image": rows}
    atomic_write_text(done, json.dumps(result, indent=1))
    return result


def lower_than(evaluation: dict[str, Any], reference: dict[str, Any] | None) -> dict[str, int] | None:
    """How many images of ``evaluation`` score a lower LPIPS and a lower NIQE than the same image in ``reference``
    (per-image rows of :func:`evaluate_phase`), or ``None`` without a reference or for the reference itself."""
    if reference is None or reference is evaluation:
        return None
    before = {row["name"]: row for row in reference["per_image"]}
    rows = evaluation["per_image"]
    counts = {m: sum(row[m] < before[row["name"]][m] for row in rows) for m in ("lpips", "niqe")}
    return {**counts, "images": len(rows)}


def reference_scores(out: Path, sets: dict[str, list[TensorPair]]) -> dict[str, Any]:
    """The blurry inputs' metrics and the sharp targets' NIQE on each test set (``OUT/references.json``)."""
    done = out / "references.json"
    if done.exists():
        return json.loads(done.read_text())
    result = {}
    for set_name, pairs in sets.items():
        rows = [scores(p.blurry[None], p.sharp[None]) for p in pairs]
        sharp_niqe = [float(scorer(("niqe",)).per_image(p.sharp[None], None)["niqe"][0]) for p in pairs]
        result[set_name] = {"blurry": means(rows, list(METRIC_ORDER)), "sharp_niqe": statistics.fmean(sharp_niqe)}
    atomic_write_text(done, json.dumps(result, indent=1))
    return result


def training_log(out: Path, phase: str) -> list[dict[str, float]]:
    """The validation rows of ``OUT/<phase>/metrics.csv``: iteration, PSNR and the reblurring module's response."""
    path = out / phase / "metrics.csv"
    if not path.exists():
        return []
    rows = []
    with path.open() as f:
        for row in csv.DictReader(f):
            if row.get("val/psnr"):
                keep = {k: float(v) for k, v in row.items() if v and (k.startswith("val/") or k == "step")}
                keep["iteration"] = float(row["step"]) + 1
                rows.append(keep)
    return rows


# -- test-time adaptation -------------------------------------------------------------------------
# Settings of reblur.adaptation.adapt tried on the GOPRO-style test pairs (keys of benchmarks.adaptation); the
# last two also adapt a copy of M_R on L_Blur (reblur_lr).
ADAPTATION_SETTINGS = (
    "steps=5,lr=1e-5,crop=256",
    "steps=10,lr=1e-4,crop=256",
    "steps=10,lr=1e-4,crop=256,proximity_weight=1",
    "steps=10,lr=1e-4,crop=256,params=norm_bias",
    "steps=10,lr=1e-4,crop=256,reblur_lr=1e-4",
    "steps=10,lr=1e-4,crop=256,params=norm_bias,reblur_lr=1e-4",
)
QUICK_ADAPTATION_SETTINGS = ("steps=2,lr=1e-4,crop=32", "steps=2,lr=1e-4,crop=32,reblur_lr=1e-4")
# (model whose M_D adapts, model whose M_R judges): each reblur-trained model with its own M_R, and the L1 model
# with the same M_R (trained on outputs of a network that started where the L1 model started).
ADAPTED_MODELS = (
    ("reblur_n1", "reblur_n1"),
    ("l1", "reblur_n1"),
    ("reblur_n2_warm", "reblur_n2_warm"),
    ("l1", "reblur_n2_warm"),
)


def adaptation_phase(
    out: Path, size: StudySize, pairs: list[TensorPair], model: str, judge: str, settings: tuple[str, ...]
) -> dict[str, Any]:
    """Rows of :func:`benchmarks.adaptation.run_row` (no adaptation, then each setting) for one model on
    ``pairs``; ``OUT/adaptation_<model>_by_<judge>.json``, rewritten after each row, so that a rerun (or a longer
    list of settings) computes only the rows it lacks."""
    from benchmarks.adaptation import NO_ADAPTATION, count_better, parse_setting, run_row, setting_label

    path = out / f"adaptation_{model}_by_{judge}.json"
    kept = {row["setting"]: row for row in json.loads(path.read_text())["rows"]} if path.exists() else {}
    deblur_net, _ = load_nets(out, model, size)
    _, reblur_net = load_nets(out, judge, size)
    assert reblur_net is not None
    items = [{"blurry": p.blurry, "sharp": p.sharp, "name": p.name} for p in pairs]
    scorers = {name: ImageQualityMetrics([name]) for name in METRIC_ORDER}
    rows: list[dict[str, Any]] = []
    result = {"model": model, "reblur_net_of": judge, "rows": rows}
    for setting in [None, *(parse_setting(text) for text in settings)]:
        label = NO_ADAPTATION if setting is None else setting_label(setting)
        row = kept.get(label) or run_row(deblur_net, reblur_net, items, setting, scorers, torch.device("cpu"))
        if rows:
            row["better"] = count_better(row, rows[0], list(METRIC_ORDER))
        rows.append(row)
        if label not in kept:
            atomic_write_text(path, json.dumps(result, indent=1))
            print(f"adaptation {model} by {judge}: {row['setting']}: done", file=sys.stderr, flush=True)
    return result


# -- the report -----------------------------------------------------------------------------------
LABELS = {name: phase.label for name, phase in PHASES.items()}


def markdown(result: dict[str, Any]) -> str:
    size, machine = result["size"], result["machine"]
    lines = [
        "# The reblurring loss at CPU scale (benchmarks/reblur_study.py)",
        "",
        f"Command: `{result['command']}`",
        "",
        f"- Date: {result['date']}; code version: {result['code_version'] or 'unknown'}",
        f"- Machine: {machine['cpu']}, {machine['threads']} threads, torch {machine['torch']}",
        f"- M_D: U-Net channels {size['channels']}; {size['pretrain_iterations']} shared L1 iterations (Adam "
        f"{size['lr_pretrain']:g}, cosine), then {size['iterations']} per method (Adam {size['lr']:g}, cosine); "
        f"batch {size['batch_size']} of {size['crop_size']}x{size['crop_size']} crops; seed {size['seed']}",
        f"- M_R: {size['reblur_channels']} channels, 5x5 convolutions, Adam 1e-3, trained alone for "
        f"{size['reblur_start']} iterations before the reblurring loss (weight 1) trains M_D; pseudo-sharp M_D(S); "
        f"'M_R warmed': M_R first trained alone for {size['reblur_warmup']} iterations against the fixed shared start, "
        "then the reblurring loss from M_D's first iteration",
        "- Training data: BSDS500 test (200 photos) x {camera shake, spatially varying} "
        f"({size['blur']['kernel_size']} px kernels, noise {size['blur']['noise_sigma']}) + GOPRO-style pairs of "
        f"{', '.join(GOPRO_TRAIN_SEQUENCES)}",
        f"- Test: GOPRO-style pairs of {', '.join(GOPRO_TEST_SEQUENCES)} (1280x720) and Kodak24 with held-out kernels; "
        "PSNR/SSIM on RGB, LPIPS AlexNet, NIQE on Y",
        "",
    ]
    refs = result["references"]
    for set_name, title in (("gopro", "GOPRO-style test pairs"), ("kodak", "Kodak24, held-out kernels")):
        ref = refs[set_name]
        lines += [
            f"## {title}",
            "",
            "| method | PSNR ↑ | SSIM ↑ | LPIPS ↓ | NIQE ↓ | lower LPIPS / NIQE than L1 | s/image | train s (phase) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            "| blurry input | "
            + " | ".join(cell(ref["blurry"][m], d) for m, d in zip(METRIC_ORDER, (2, 4, 4, 3)))
            + " | – | – | – |",
        ]
        for phase in ("pretrain", *METHODS):
            evaluation = result["evaluations"].get(phase)
            if evaluation is None:
                continue
            mean = evaluation[set_name]["mean"]
            train = result["training"][phase]["train_seconds"]
            cells = [cell(mean[m], d) for m, d in zip(METRIC_ORDER, (2, 4, 4, 3))]
            lower = evaluation[set_name].get("lower_than_l1")
            cells.append("–" if not lower else f"{lower['lpips']} / {lower['niqe']} of {lower['images']}")
            lines.append(f"| {LABELS[phase]} | " + " | ".join(cells) + f" | {mean['seconds']:.2f} | {train:.0f} |")
        lines += ["", f"Sharp targets' NIQE: {ref['sharp_niqe']:.3f}.", ""]
    lines += [
        "## The observation: how far M_R moves each image toward the blurry input",
        "",
        "toward = mean|x - B| - mean|M_R(x) - B| (mean absolute difference, [0, 1] scale); move = mean|M_R(x) - x|. "
        "Goal: toward(deblurred) >= 2 x toward(sharp).",
        "",
        "| model | set | move blurry | move deblurred | move sharp | toward deblurred | toward sharp | "
        "toward pseudo-sharp | ratio deblurred/sharp |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    reblur_methods = [method for method in METHODS if reblur_blocks(method) is not None]
    for phase in reblur_methods:
        evaluation = result["evaluations"].get(phase)
        if evaluation is None:
            continue
        for set_name in ("gopro", "kodak"):
            m = evaluation[set_name]["mean"]
            ratio = m["toward_blurry_deblurred"] / m["toward_blurry_sharp"] if m["toward_blurry_sharp"] else None
            cells = [
                cell(m[k], 5)
                for k in (
                    "move_blurry",
                    "move_deblurred",
                    "move_sharp",
                    "toward_blurry_deblurred",
                    "toward_blurry_sharp",
                    "toward_blurry_pseudo_sharp",
                )
            ]
            lines.append(f"| {LABELS[phase]} | {set_name} | " + " | ".join(cells) + f" | {cell(ratio, 2)} |")
    lines += ["", "During training (validation crops; M_R alone until the reblurring loss starts):", ""]
    lines += [
        "| model | iteration | val PSNR | toward deblurred | toward sharp | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for phase in [*WARMUPS.values(), *reblur_methods]:
        for row in result["training_logs"].get(phase, []):
            deblurred = row.get("val/reblur_toward_blurry_deblurred")
            sharp = row.get("val/reblur_toward_blurry_sharp")
            ratio = deblurred / sharp if deblurred is not None and sharp else None
            lines.append(
                f"| {LABELS[phase]} | {row['iteration']:.0f} | {row['val/psnr']:.2f} | {cell(deblurred, 5)} | "
                f"{cell(sharp, 5)} | {cell(ratio, 2)} |"
            )
    adaptations = result.get("adaptation") or {}
    if adaptations:
        lines += [
            "",
            "## Test-time adaptation on the GOPRO-style test pairs",
            "",
            "Each image adapted on its own from the trained weights (`reblur.adaptation.adapt`: K Adam steps on the "
            "self-reblurring loss, M_R frozen unless `M_R lr` is given: then a copy of M_R also takes one Adam step on "
            "L_Blur after each M_D step), then deblurred whole; `crop 256`: the steps see the 256x256 window "
            "with the most detail. Seconds per image: adaptation and deblurring, not the metrics. "
            '"better" counts images (of 7) that beat no adaptation.',
            "",
            "| M_D | M_R | setting | PSNR ↑ | SSIM ↑ | LPIPS ↓ | NIQE ↓ | s/image | better LPIPS | better NIQE |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for adaptation in adaptations.values():
            model = adaptation["model"]
            for row in adaptation["rows"]:
                better = row.get("better") or {}
                cells = [cell(row[m], d) for m, d in zip(METRIC_ORDER, (2, 4, 4, 3))]
                counts = [str(better[m]) if m in better else "–" for m in ("lpips", "niqe")]
                lines.append(
                    f"| {LABELS[model]} | {LABELS[adaptation['reblur_net_of']]} | {row['setting']} | "
                    + " | ".join(cells)
                    + f" | {row['seconds_mean']:.2f} | "
                    + " | ".join(counts)
                    + " |"
                )
    lines += ["", NOTES_MARKER, ""]
    return "\n".join(lines)


# -- entry point ----------------------------------------------------------------------------------
def corner(pair: TensorPair, side: int) -> TensorPair:
    """The top-left ``side x side`` of a pair (the quick run's sizes)."""
    return TensorPair(pair.blurry[:, :side, :side], pair.sharp[:, :side, :side], pair.name)


def check_weights(size: StudySize) -> None:
    """Load the LPIPS AlexNet and the VGG16 weights once, so that missing files stop the study before any work."""
    METRICS["lpips"].compute(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    VGGPerceptualLoss("vgg16", size.vgg_layer)


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    size = QUICK if args.quick else FULL
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    data_root = Path(args.data)
    train = training_pairs(data_root, size.blur)
    val = validation_pairs(data_root, size.blur)
    sets = test_sets(data_root, size.blur)
    check_weights(size)
    if size.max_test_images is not None:
        sets = {name: pairs[: size.max_test_images] for name, pairs in sets.items()}
    if args.quick:
        train = [TensorPair(p.blurry[:, :64, :64], p.sharp[:, :64, :64], p.name) for p in train[::40]]
        val = [TensorPair(p.blurry[:, :64, :64], p.sharp[:, :64, :64], p.name) for p in val[:2]]
        sets = {
            n: [TensorPair(p.blurry[:, :96, :96], p.sharp[:, :96, :96], p.name) for p in s] for n, s in sets.items()
        }
    data = StudyData(batch_size=size.batch_size, crop_size=size.crop_size, num_workers=0, persistent_workers=False)
    data.use(train, val)

    training = {"pretrain": train_phase(out, "pretrain", size, data, None)}
    evaluations = {"pretrain": evaluate_phase(out, "pretrain", size, sets)}
    start = out / "pretrain" / "deblur_net.pt"
    for method in args.methods:
        warmed = None
        if method in WARMUPS:
            training[WARMUPS[method]] = train_phase(out, WARMUPS[method], size, data, start)
            warmed = out / WARMUPS[method] / "reblur_net.pt"
        training[method] = train_phase(out, method, size, data, start, warmed)
        evaluations[method] = evaluate_phase(out, method, size, sets)
        print(f"{method}: done", file=sys.stderr, flush=True)
    settings = QUICK_ADAPTATION_SETTINGS if args.quick else ADAPTATION_SETTINGS
    adaptation = {
        f"{model} by {judge}": adaptation_phase(out, size, sets["gopro"], model, judge, settings)
        for model, judge in ADAPTED_MODELS
        if model in args.methods and judge in args.methods
    }
    result = {
        "study": "reblurring loss vs L1 vs VGG at equal iterations",
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "code_version": code_version(),
        "machine": {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__},
        "size": asdict(size),
        "data": {"train_pairs": len(train), "val_pairs": len(val), **{k: len(v) for k, v in sets.items()}},
        "references": reference_scores(out, sets),
        "training": training,
        "evaluations": {
            k: {
                s: {"mean": v[s]["mean"], "lower_than_l1": lower_than(v[s], evaluations.get("l1", {}).get(s))}
                for s in v
            }
            for k, v in evaluations.items()
        },
        "training_logs": {phase: training_log(out, phase) for phase in ("pretrain", *WARMUPS.values(), *METHODS)},
        "adaptation": {
            model: {**a, "rows": [{k: v for k, v in r.items() if k != "per_image"} for r in a["rows"]]}
            for model, a in adaptation.items()
        },
    }
    atomic_write_text(out / "study.json", json.dumps(result, indent=1))
    if args.report is not None:
        prefix = Path(args.report)
        write_report(prefix.with_suffix(".md"), markdown(result), overwrite=True)
        atomic_write_text(prefix.with_suffix(".json"), json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reblur_study", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (checkpoints, logs, evaluations)")
    parser.add_argument("--data", default="../shared/data", help="the shared data folder (default ../shared/data)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--report", help="write PREFIX.md and PREFIX.json (e.g. docs/results/reblur_study)")
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated subset of {','.join(METHODS)} to train and report (default all; the rest can follow)",
    )
    args = parser.parse_args(argv)
    args.methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = [name for name in args.methods if name not in METHODS]
    if unknown or not args.methods:
        parser.error(f"--methods: unknown {unknown or 'none given'}; choose from {', '.join(METHODS)}")
    try:
        result = run(args, shlex.join(["python", "-m", "benchmarks.reblur_study", *argv]))
    except (FileNotFoundError, RuntimeError) as error:  # missing data or weights: say which, no traceback
        print(f"benchmarks.reblur_study: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
