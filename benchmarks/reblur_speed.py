"""Training speed of the reblurring framework against a plain PyTorch loop with the same models and math.

Usage::

    python -m benchmarks.reblur_speed [--batch-size 4] [--crop 256] [--steps 10] [--warmup 2] [--accelerator auto]

Prints one JSON object: median seconds per training iteration (one M_R step + one M_D step) of the
Lightning module (``ReblurTraining`` under ``pl.Trainer``) and of a hand-written loop doing the same
updates, iterations per second, and their ratio (the framework's overhead). Both read the same
in-memory random batches through a ``DataLoader`` (no disk I/O) and use U-Net (default size) with
an n1 reblurring module, Adam, fp32 unless ``--precision`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any, cast

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from benchmarks.common import StepTimer, cpu_name, synchronize
from reblur.lightning_module import ReblurTraining
from reblur.losses import l1, reblurring_loss, reblurring_module_losses
from reblur.networks import ReblurringModule, UNet
from reblur.options import Evaluation, NetworkUpdates


def random_pairs(count: int, batch_size: int, crop: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        {"blurry": torch.rand(3, crop, crop, generator=g), "sharp": torch.rand(3, crop, crop, generator=g)}
        for _ in range(count * batch_size)
    ]


def batches(data: list[dict[str, torch.Tensor]], batch_size: int) -> DataLoader[dict[str, torch.Tensor]]:
    # A list is a map-style dataset (__getitem__ and __len__), but torch types the argument as its Dataset class.
    dataset = cast("Dataset[dict[str, torch.Tensor]]", data)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=True)


def make_nets(seed: int = 0) -> tuple[UNet, ReblurringModule]:
    torch.manual_seed(seed)
    return UNet(), ReblurringModule(n_blocks=1)


def time_lightning(args: argparse.Namespace, data: list[dict[str, torch.Tensor]]) -> tuple[list[float], str]:
    deblur_net, reblur_net = make_nets()
    module = ReblurTraining(
        deblur_net,
        reblur_net,
        deblur_updates=NetworkUpdates(lambda p: torch.optim.Adam(p, lr=1e-4)),
        reblur_updates=NetworkUpdates(lambda p: torch.optim.Adam(p, lr=1e-4)),
        evaluation=Evaluation(metrics=("psnr",)),
    )
    timer = StepTimer()
    trainer = pl.Trainer(
        accelerator=args.accelerator,
        devices=1,
        precision=args.precision,
        max_steps=args.warmup + args.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=batches(data, args.batch_size))
    return timer.seconds[args.warmup :], str(module.device)


def time_plain_loop(args: argparse.Namespace, data: list[dict[str, torch.Tensor]], device: torch.device) -> list[float]:
    deblur_net, reblur_net = (net.to(device) for net in make_nets())
    deblur_optimizer = torch.optim.Adam(deblur_net.parameters(), lr=1e-4)
    reblur_optimizer = torch.optim.Adam(reblur_net.parameters(), lr=1e-4)
    autocast_dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(args.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=args.precision == "16-mixed")
    times = []
    for batch in batches(data, args.batch_size):
        synchronize(device)
        start = time.perf_counter()
        blurry, sharp = batch["blurry"].to(device), batch["sharp"].to(device)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            deblurred = deblur_net(blurry)
            with torch.no_grad():
                pseudo_sharp = deblur_net(sharp)
            loss_r = reblurring_module_losses(reblur_net, deblurred, blurry, pseudo_sharp)["total"]
        reblur_optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss_r).backward()
        scaler.step(reblur_optimizer)
        scaler.update()
        reblur_net.requires_grad_(False)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            loss_d = l1(deblurred, sharp) + reblurring_loss(reblur_net, deblurred, sharp)
        deblur_optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(deblur_optimizer)
        scaler.update()
        reblur_net.requires_grad_(True)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times[args.warmup :]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--accelerator", default="auto", help="auto, cpu or gpu")
    parser.add_argument("--precision", default="32-true", help="32-true, bf16-mixed or 16-mixed")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1 or args.crop < 8:
        parser.error("need --steps >= 1, --warmup >= 0, --batch-size >= 1, --crop >= 8")

    data = random_pairs(args.warmup + args.steps, args.batch_size, args.crop)
    lightning_times, device_name = time_lightning(args, data)
    device = torch.device(device_name)
    plain_times = time_plain_loop(args, data, device)
    lightning_s, plain_s = statistics.median(lightning_times), statistics.median(plain_times)
    result = {
        "benchmark": "reblur training iteration (M_R step + M_D step)",
        "model": "UNet (default) + ReblurringModule n1",
        "batch_size": args.batch_size,
        "crop": args.crop,
        "precision": args.precision,
        "steps": args.steps,
        "warmup": args.warmup,
        "device": device_name,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "lightning_seconds_per_iteration": round(lightning_s, 4),
        "plain_seconds_per_iteration": round(plain_s, 4),
        "lightning_iterations_per_second": round(1 / lightning_s, 3),
        "plain_iterations_per_second": round(1 / plain_s, 3),
        "overhead_ratio": round(lightning_s / plain_s, 3),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
