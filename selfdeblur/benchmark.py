"""Time SelfDeblur's optimisation steps on one image and print one JSON line.

Usage::

    python -m selfdeblur.benchmark --image ../shared/data/levin/im1_kernel1_img.png --kernel-size 17 --steps 20

The steps run through the same Lightning ``fit`` as ``selfdeblur fit`` (the paper's network and
optimiser, fp32 unless ``--precision`` says otherwise). Reported: the median, mean and minimum
wall-clock seconds per step after ``--warmup`` steps, the process's peak resident memory (and
peak CUDA memory on a GPU), the device and the torch version.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from selfdeblur.api import solver_trainer
from selfdeblur.data import SelfDeblurDataModule
from selfdeblur.module import SelfDeblur


class StepTimer(Callback):
    """Wall-clock seconds of every training batch (CUDA work included)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def _sync(self, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._sync(pl_module)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._sync(pl_module)
        self.seconds.append(time.perf_counter() - self._start)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def run(
    image: str, kernel_size: int, steps: int, warmup: int = 3, accelerator: str = "auto", precision: str = "32-true"
) -> dict[str, Any]:
    if steps < 1 or warmup < 0:
        raise ValueError(f"--steps must be >= 1 and --warmup >= 0, got {steps} and {warmup}")
    data = SelfDeblurDataModule(images=[image], kernel_size=kernel_size)
    model = SelfDeblur(steps=warmup + steps)
    timer = StepTimer()
    trainer = solver_trainer(accelerator, precision, callbacks=[timer])
    rss_before = peak_rss_mb()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(model, datamodule=data)
    timed = timer.seconds[warmup:]
    device = trainer.strategy.root_device
    result: dict[str, Any] = {
        "image": image,
        "height": int(data.images[0].load().shape[-2]),
        "width": int(data.images[0].load().shape[-1]),
        "kernel_size": kernel_size,
        "steps_timed": len(timed),
        "warmup": warmup,
        "median_step_s": round(statistics.median(timed), 4),
        "mean_step_s": round(statistics.fmean(timed), 4),
        "min_step_s": round(min(timed), 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_mb": round(rss_before, 1),
        "precision": precision,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu: {cpu_name()}",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True, help="blurry image file")
    parser.add_argument("--kernel-size", type=int, required=True, help="odd kernel size")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    parser.add_argument("--precision", default="32-true", help="Lightning precision, e.g. 32-true, bf16-mixed")
    args = parser.parse_args(argv)
    result = run(args.image, args.kernel_size, args.steps, args.warmup, args.accelerator, args.precision)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
