"""One prepared GPU run: every CUDA path of the project checked and measured in one command, within 9 minutes.

Usage (on the GPU machine; the results come back under ``--out``)::

    python -m benchmarks.gpu.run_checks --out gpu_results
    # the same parts at tiny sizes on the CPU, in minutes (what the test suite runs, so that the script cannot rot)
    python -m benchmarks.gpu.run_checks --out /tmp/gpu_dry --dry-run

Each part runs in a process of its own with a time limit (a hang, a crash or an out-of-memory error costs that part
only), writes ``<out>/<part>.json``, and its output goes to ``<out>/log.txt``; ``<out>/summary.json`` lists every
part with its status and seconds. The parts, with their limits (seconds; 505 in all, plus start-up):

- ``levin_stacked`` (150): all 32 Levin images as one stacked group (``images_per_group 32``,
  ``stack_problems``) for 300 steps: seconds per step of the 32, and the projection to the paper's 5000 steps
  (the goal: 32 images x 5000 steps within 5 minutes);
- ``tf32`` (120): two Levin images, 1000 steps in float32 and in TF32: the PSNR difference (goal: within 0.1 dB)
  and the speed ratio;
- ``photo_memory`` (90): a 1280x720 colour photo, k = 31, 3 steps of the paper's mode: the peak CUDA memory
  against :mod:`selfdeblur.memory_estimate`'s figure, and the fast mode's whole solve (time, peak);
- ``niqe_cuda`` (45): NIQE of the Levin ground truths on the GPU against the CPU (equal within 1e-4);
- ``reblur_bf16`` (60): the reblur demo's training step in ``bf16-mixed`` for 100 iterations: losses finite,
  iterations per second;
- ``nccl`` (40): ``torch.distributed`` with NCCL (one process): an all-reduce gives the expected sum.

``--dry-run`` runs every part on the CPU at tiny sizes (2 Levin images, 2-6 steps, small generators, gloo for
NCCL, bf16 autocast on the CPU) with the same code and the same files: numbers that say nothing about speed.
Its limits are five times the GPU's, as a guard against hangs only. Its ``reblur_bf16`` trains on 32x32 pairs,
2 per batch: on a CPU without bf16 instructions torch emulates bf16, and at the demo's sizes the part took more
than 300 s on 2 cores of a Zen 3 (17 s at these; docs/performance.md, "bf16 without bf16 instructions").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# The dry run's limits (module docstring): tiny sizes on shared CPU cores can outlast a part's GPU limit.
DRY_RUN_LIMIT_FACTOR = 5

LIMITS = {
    "levin_stacked": 150,
    "tf32": 120,
    "photo_memory": 90,
    "niqe_cuda": 45,
    "reblur_bf16": 60,
    "nccl": 40,
}
TINY_MODEL = [
    "--model.generators.image_channels=[8, 8]",
    "--model.generators.skip_channels=[4, 4]",
    "--model.generators.non_local_scales=1",
    "--model.generators.kernel_hidden=[32]",
]


def _selfdeblur(args: list[str]) -> None:
    from selfdeblur.cli import main

    main(["fit", *args, "--trainer.enable_progress_bar", "false", "--trainer.logger", "false"])


def _summary(folder: Path) -> list[dict[str, str]]:
    import csv

    with (folder / "summary.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def levin_stacked(out: Path, dry: bool) -> dict[str, Any]:
    steps = 3 if dry else 300
    names = '["im1_kernel1_img", "im2_kernel2_img"]' if dry else '["*"]'
    folder = out / "levin_stacked"
    args = ["--config", "configs/selfdeblur/levin.yaml", "--output.dir", str(folder), "--output.overwrite", "true"]
    args += ["--data.names", names, "--data.images_per_group", "32", "--model.compute.stack_problems", "true"]
    args += ["--model.optimization.steps", str(steps), "--trainer.accelerator", "cpu" if dry else "gpu"]
    args += TINY_MODEL if dry else []
    _selfdeblur(args)
    rows = _summary(folder)
    seconds = float(rows[0]["seconds"])  # the group's wall time, the same in every row
    return {
        "images": len(rows),
        "steps": steps,
        "seconds": seconds,
        "seconds_per_step": seconds / steps,
        "projected_seconds_for_5000_steps": seconds / steps * 5000,
        "goal_seconds": 300,
    }


def tf32(out: Path, dry: bool) -> dict[str, Any]:
    steps = 2 if dry else 1000
    results: dict[str, Any] = {}
    for precision in ("ieee", "tf32"):
        folder = out / f"tf32_{precision}"
        args = ["--config", "configs/selfdeblur/levin.yaml", "--output.dir", str(folder), "--output.overwrite", "true"]
        args += ["--data.names", '["im1_kernel1_img", "im2_kernel2_img"]', "--model.optimization.steps", str(steps)]
        args += [
            "--model.optimization.milestones",
            f"[{steps // 2}]",
            "--model.optimization.mse_steps",
            str(steps // 5),
        ]
        args += ["--model.compute.float32_precision", precision, "--trainer.accelerator", "cpu" if dry else "gpu"]
        args += TINY_MODEL if dry else []
        started = time.perf_counter()
        _selfdeblur(args)
        rows = _summary(folder)
        results[precision] = {
            "seconds": time.perf_counter() - started,
            "psnr_db": {r["name"]: float(r["psnr_db"]) for r in rows},
        }
    differences = [results["tf32"]["psnr_db"][n] - results["ieee"]["psnr_db"][n] for n in results["ieee"]["psnr_db"]]
    return results | {
        "psnr_difference_db": differences,
        "within_0_1_db": all(abs(d) <= 0.1 for d in differences),
        "speed_ratio": results["ieee"]["seconds"] / results["tf32"]["seconds"],
    }


def photo_memory(out: Path, dry: bool) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from deblur_core.image_io import save_image
    from deblur_core.sample_images import load_skimage

    height, width, kernel = (48, 64, 5) if dry else (720, 1280, 31)
    photo = out / "photo_memory" / "photo.png"
    photo.parent.mkdir(parents=True, exist_ok=True)
    image = F.interpolate(load_skimage("astronaut")[None], size=(height, width), mode="bilinear", antialias=True)[0]
    save_image(photo, image.clamp(0, 1))
    device = "cpu" if dry else "cuda"
    results: dict[str, Any] = {"size": [height, width], "kernel_size": kernel}
    for mode, steps in (("paper", 3), ("fast", 6 if dry else 1000)):
        from selfdeblur.api import solver_trainer
        from selfdeblur.data import SelfDeblurDataModule
        from selfdeblur.lightning_module import SelfDeblur
        from selfdeblur.options import FastMode, Generators, Optimization

        generators = (
            Generators(image_channels=(8, 8), skip_channels=(4, 4), non_local_scales=1) if dry else Generators()
        )
        fast = FastMode(enabled=mode == "fast", crop=32 if dry else 160)
        model = SelfDeblur(Optimization(steps=steps, milestones=()), generators, fast=fast)
        data = SelfDeblurDataModule(images=str(photo), kernel_size=kernel)
        data.setup("fit")
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        solver_trainer(device, keep_host_memory=False).fit(model, datamodule=data)
        seconds = time.perf_counter() - started
        estimate = model.estimate_memory(data.images[0], baseline=0)
        peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
        results[mode] = {
            "steps": steps,
            "seconds": seconds,
            "peak_cuda_bytes": peak,
            "estimate_bytes": estimate.total,
            "estimate_over_peak": estimate.total / peak if peak else None,
        }
    return results


def niqe_cuda(out: Path, dry: bool) -> dict[str, Any]:
    import torch

    from deblur_core.image_io import read_image
    from reblur.metrics.niqe import niqe

    files = sorted((REPO / "data" / "levin" / "gt").glob("im*.png"))[: 1 if dry else 4]
    images = torch.stack([read_image(f) for f in files])
    on_cpu = niqe(images.double()).tolist()
    device = "cpu" if dry else "cuda"
    on_device = niqe(images.double().to(device)).cpu().tolist()
    differences = [abs(a - b) for a, b in zip(on_cpu, on_device)]
    return {"files": [f.name for f in files], "cpu": on_cpu, device: on_device, "max_difference": max(differences)}


def reblur_bf16(out: Path, dry: bool) -> dict[str, Any]:
    from reblur.cli import main

    iterations = 2 if dry else 100
    folder = out / "reblur_bf16"
    args = ["fit", "--config", "configs/reblur/demo.yaml", "--trainer.default_root_dir", str(folder)]
    args += ["--trainer.max_steps", str(iterations), "--trainer.precision", "bf16-mixed"]
    args += ["--trainer.accelerator", "cpu" if dry else "gpu", "--trainer.enable_progress_bar", "false"]
    args += ["--trainer.limit_val_batches", "1", "--trainer.val_check_interval", str(iterations)]
    args += ["--trainer.log_every_n_steps", "1"]
    if dry:
        # Tiny pairs: the dry run checks that the step works, and emulated bf16 is slow (module docstring).
        args += ["--data.init_args.image_size", "32", "--data.init_args.crop_size", "32"]
        args += ["--data.init_args.batch_size", "2", "--data.init_args.pairs_per_image", "1"]
    started = time.perf_counter()
    main(args)
    seconds = time.perf_counter() - started
    metrics = sorted(folder.rglob("metrics.csv"))
    losses: list[float] = []
    if metrics:
        import csv

        with metrics[-1].open(newline="") as f:
            for row in csv.DictReader(f):
                losses += [float(v) for k, v in row.items() if k.startswith("train/") and v not in ("", None)]
    finite = all(v == v and abs(v) != float("inf") for v in losses)
    return {
        "iterations": iterations,
        "seconds": seconds,
        "iterations_per_second": iterations / seconds,
        "logged_losses": len(losses),
        "losses_finite": finite,
    }


def nccl(out: Path, dry: bool) -> dict[str, Any]:
    import os

    import torch
    import torch.distributed as dist

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    backend = "gloo" if dry else "nccl"
    dist.init_process_group(backend, rank=0, world_size=1)
    try:
        device = "cpu" if dry else "cuda"
        value = torch.arange(4, dtype=torch.float32, device=device)
        dist.all_reduce(value)
        return {"backend": backend, "all_reduce": value.cpu().tolist(), "ok": value.cpu().tolist() == [0, 1, 2, 3]}
    finally:
        dist.destroy_process_group()


PARTS = {
    "levin_stacked": levin_stacked,
    "tf32": tf32,
    "photo_memory": photo_memory,
    "niqe_cuda": niqe_cuda,
    "reblur_bf16": reblur_bf16,
    "nccl": nccl,
}


def environment() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "python": sys.version.split()[0]}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    from benchmarks.common import code_version, cpu_name

    return info | {"cpu": cpu_name(), "code": code_version()}


def run_part(name: str, out: Path, dry: bool) -> None:
    """In the part's own process: run it and write ``<out>/<name>.json``."""
    started = time.perf_counter()
    try:
        result = {"status": "ok", **PARTS[name](out, dry)}
    except Exception:
        result = {"status": "error", "error": traceback.format_exc().strip().splitlines()[-1]}
        traceback.print_exc()
    result["seconds_total"] = time.perf_counter() - started
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu.run_checks", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the JSON, PNG and log files")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument("--parts", nargs="+", choices=sorted(PARTS), default=list(PARTS))
    parser.add_argument("--part", help=argparse.SUPPRESS)  # run one part in this process
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.part:
        run_part(args.part, out, args.dry_run)
        return {}
    summary: dict[str, Any] = {"dry_run": args.dry_run, "environment": environment(), "parts": {}}
    with (out / "log.txt").open("a") as log:
        for name in args.parts:
            command = [sys.executable, "-m", "benchmarks.gpu.run_checks", "--out", str(out), "--part", name]
            command += ["--dry-run"] if args.dry_run else []
            started = time.perf_counter()
            limit = LIMITS[name] * (DRY_RUN_LIMIT_FACTOR if args.dry_run else 1)
            log.write(f"\n===== {name} (limit {limit} s) =====\n")
            log.flush()
            try:
                done = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=limit)
                status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
            except subprocess.TimeoutExpired:
                status = f"timed out after {limit} s"
            part_file = out / f"{name}.json"
            part = json.loads(part_file.read_text()) if part_file.is_file() else {"status": status}
            if status != "ok":
                part["status"] = status
            summary["parts"][name] = part | {"wall_seconds": round(time.perf_counter() - started, 1)}
            print(json.dumps({name: summary["parts"][name]}, default=str), flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return summary


if __name__ == "__main__":
    main()
