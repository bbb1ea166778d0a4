"""Time SelfDeblur's optimisation steps and print JSON.

Usage::

    python -m benchmarks.selfdeblur_speed --image data/levin/im1_kernel1_img.png --kernel-size 17 --steps 20
    python -m benchmarks.selfdeblur_speed --image data/levin/im1_kernel1_img.png --kernel-size 17 --steps 10 \
        --batch 1 4 8 --paths plain fast stacked

The steps run through the same Lightning ``fit`` as ``selfdeblur fit`` (the paper's network and
optimiser, fp32 unless ``--precision`` says otherwise). ``--batch N`` solves N copies of the image
as one group (each copy its own problem: own seed, generators and Adam state). Paths:

* ``plain``: NCHW feature maps, direct correlation, the group's problems one after another, freed
  host memory left to the system (the project before issue 6);
* ``fast``: the defaults (channels_last on CPU, contiguous on GPU; FFT correlation for k >= 9; on the CPU,
  freed memory kept for reuse: :mod:`selfdeblur.host_memory`);
* ``stacked``: the group's problems as one batched call (``model.compute.stack_problems``).

``--release-host-memory`` leaves freed memory to the system on every path (to measure that lever alone).

One configuration prints one JSON line: the median, mean and minimum wall-clock seconds per step
(of the whole group) after ``--warmup`` steps, the same per image, the process's peak resident
memory (and peak CUDA memory on a GPU), whether freed host memory was kept, the GPU's float32 arithmetic
(``--float32-precision ieee|tf32``), the device and the torch version; with ``--profile``, torch.profiler's
self time per operator and step over the timed steps (the profiler slows the steps it times). Several configurations
run one subprocess each (so that each peak memory is its own), print one line each, then a last
line with all of them and each one's speed-up against ``plain`` at the same batch size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal, TypedDict

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from benchmarks.common import StepTimer, cpu_name, peak_rss_mb
from deblur_core.blur import correlation_method
from selfdeblur.api import TrainerPrecision, solver_trainer
from selfdeblur.data import SelfDeblurDataModule
from selfdeblur.host_memory import KeepFreedHostMemory
from selfdeblur.lightning_module import SelfDeblur
from selfdeblur.options import Compute, Optimization


class StepProfiler(Callback):
    """torch.profiler over the steps after ``warmup``: self time per operator, per step (``--profile``)."""

    def __init__(self, warmup: int, top: int = 12) -> None:
        self.warmup = warmup
        self.top = top
        self.steps = 0
        self._profiler: torch.profiler.profile | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if trainer.global_step >= self.warmup and self._profiler is None:
            activities = [torch.profiler.ProfilerActivity.CPU]
            if pl_module.device.type == "cuda":
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            self._profiler = torch.profiler.profile(activities=activities)
            self._profiler.__enter__()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self._profiler is not None:
            self.steps += 1

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._profiler is not None:
            self._profiler.__exit__(None, None, None)

    def summary(self) -> dict[str, Any]:
        """Milliseconds per step: all operators' self CPU time, the convolutions' (forward and backward), and
        the ``top`` operators by self CPU time."""
        if self._profiler is None or not self.steps:
            return {}
        events = self._profiler.key_averages()
        per_step = {e.key: e.self_cpu_time_total / 1e3 / self.steps for e in events}
        ranked = sorted(per_step.items(), key=lambda item: -item[1])
        return {
            "profiled_steps": self.steps,
            "self_cpu_ms_per_step": round(sum(per_step.values()), 2),
            "convolution_ms_per_step": round(sum(v for k, v in per_step.items() if "convolution" in k), 2),
            "top_ops_ms_per_step": {k: round(v, 2) for k, v in ranked[: self.top]},
        }


class PathOptions(TypedDict, total=False):
    """The :class:`Compute` options a code path sets."""

    memory_format: Literal["auto", "contiguous", "channels_last"]
    stack_problems: bool
    blur_method: Literal["auto", "direct", "fft"]


PATHS: dict[str, PathOptions] = {
    "plain": {"memory_format": "contiguous", "stack_problems": False, "blur_method": "direct"},
    "fast": {},
    "stacked": {"stack_problems": True},
}
# Paths that leave freed host memory to the system unless asked otherwise.
SYSTEM_HOST_MEMORY = {"plain"}


def copies(image: str, batch: int, folder: Path) -> Path:
    """``folder`` with ``batch`` links ``copy0.png ...`` to ``image`` (distinct names: distinct problems)."""
    source = Path(image).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"--image: no such file: '{image}'")
    for i in range(batch):
        (folder / f"copy{i}{source.suffix}").symlink_to(source)
    return folder


def run(
    image: str,
    kernel_size: int,
    steps: int,
    warmup: int = 3,
    accelerator: str = "auto",
    precision: TrainerPrecision = "32-true",
    batch: int = 1,
    path: str = "fast",
    release_host_memory: bool = False,
    float32_precision: Literal["ieee", "tf32"] = "ieee",
    profile: bool = False,
) -> dict[str, Any]:
    """Time one configuration in this process (and profile its timed steps if ``profile``)."""
    if steps < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"--steps and --batch must be >= 1 and --warmup >= 0, got {steps}, {batch} and {warmup}")
    if path not in PATHS:
        raise ValueError(f"--paths must be among {list(PATHS)}, got {path!r}")
    with tempfile.TemporaryDirectory() as folder:
        data = SelfDeblurDataModule(
            images=str(copies(image, batch, Path(folder))), kernel_size=kernel_size, images_per_group=batch
        )
        model = SelfDeblur(
            Optimization(steps=warmup + steps), compute=Compute(float32_precision=float32_precision, **PATHS[path])
        )
        timer = StepTimer()
        profiler = StepProfiler(warmup) if profile else None
        keep = not release_host_memory and path not in SYSTEM_HOST_MEMORY
        callbacks = [timer, *([profiler] if profiler else [])]
        trainer = solver_trainer(accelerator, precision, callbacks=callbacks, keep_host_memory=keep)
        rss_before = peak_rss_mb()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        trainer.fit(model, datamodule=data)
        size = data.images[0].size
        assert size is not None  # recorded by the DataModule's setup
        height, width = size
    timed = timer.seconds[warmup:]
    device = trainer.strategy.root_device
    median = statistics.median(timed)
    result: dict[str, Any] = {
        "image": image,
        "height": int(height),
        "width": int(width),
        "kernel_size": kernel_size,
        "batch": batch,
        "path": path,
        "memory_format": model.feature_memory_format().__repr__().removeprefix("torch."),
        "stacked": model.compute.stack_problems,
        "blur_method": correlation_method(model.compute.blur_method, kernel_size),
        # Lightning sets trainer.callbacks at run time without declaring it on the Trainer class.
        "host_memory_kept": any(
            isinstance(c, KeepFreedHostMemory) and c.applied
            for c in trainer.callbacks  # type: ignore[attr-defined]
        ),
        "steps_timed": len(timed),
        "warmup": warmup,
        "median_step_s": round(median, 4),
        "mean_step_s": round(statistics.fmean(timed), 4),
        "min_step_s": round(min(timed), 4),
        "median_step_s_per_image": round(median / batch, 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_mb": round(rss_before, 1),
        "precision": precision,
        "float32_precision": float32_precision if device.type == "cuda" else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu: {cpu_name()}",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if profiler is not None:
        result["profile"] = profiler.summary()
    if device.type == "cuda":
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return result


def run_each(args: argparse.Namespace) -> dict[str, Any]:
    """Every (batch, path) configuration in its own subprocess; their lines, then a summary line."""
    runs = []
    for batch in args.batch:
        for path in args.paths:
            command = [sys.executable, "-m", "benchmarks.selfdeblur_speed", "--image", args.image]
            command += [
                "--kernel-size",
                str(args.kernel_size),
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
            ]
            command += ["--accelerator", args.accelerator, "--precision", args.precision]
            command += ["--batch", str(batch), "--paths", path]
            command += ["--release-host-memory"] if args.release_host_memory else []
            command += ["--float32-precision", args.float32_precision]
            command += ["--profile"] if args.profile else []
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"benchmark of batch {batch}, path {path} failed:\n{done.stderr[-3000:]}")
            line = done.stdout.strip().splitlines()[-1]
            print(line, flush=True)
            runs.append(json.loads(line))
    plain = {r["batch"]: r["median_step_s"] for r in runs if r["path"] == "plain"}
    for r in runs:
        if r["batch"] in plain:
            r["speedup_vs_plain"] = round(plain[r["batch"]] / r["median_step_s"], 3)
    return {"runs": runs}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True, help="blurry image file")
    parser.add_argument("--kernel-size", type=int, required=True, help="odd kernel size")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    parser.add_argument("--precision", default="32-true", help="Lightning precision, e.g. 32-true, bf16-mixed")
    parser.add_argument("--batch", type=int, nargs="+", default=[1], help="problems solved together (one or more)")
    parser.add_argument("--paths", nargs="+", default=["fast"], choices=list(PATHS), help="code paths to time")
    parser.add_argument(
        "--float32-precision", default="ieee", choices=["ieee", "tf32"], help="GPU float32 convolutions and products"
    )
    parser.add_argument(
        "--release-host-memory", action="store_true", help="leave freed host memory to the system on every path"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also report torch.profiler's self time per operator and step"
    )
    args = parser.parse_args(argv)
    if len(args.batch) * len(args.paths) == 1:
        result = run(
            args.image,
            args.kernel_size,
            args.steps,
            args.warmup,
            args.accelerator,
            args.precision,
            args.batch[0],
            args.paths[0],
            args.release_host_memory,
            args.float32_precision,
            args.profile,
        )
    else:
        result = run_each(args)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
