"""The remaining CPU levers on SelfDeblur's step, timed against each other in one process: JSON.

Usage::

    python -m benchmarks.selfdeblur_levers --size 271 --rounds 3 --iterations 5 \\
        --out docs/results/selfdeblur_levers_cpu.jsonl

A step's time is almost all G_x (the paper's skip network, five scales of 128 channels) forward and backward on
``(H + k - 1) x (W + k - 1)`` pixels: 271x271 for a Levin image with k = 17. This times exactly that work (G_x as
``SelfDeblur`` builds it, channels_last as the CPU default, an MSE against a fixed target, ``backward``) in each
variant:

* ``fp32``: eager float32, the default path;
* ``bf16``: eager under ``torch.autocast("cpu", torch.bfloat16)`` (convolutions and matrix products in bfloat16,
  what ``--trainer.precision bf16-mixed`` gives);
* ``compiled``: ``torch.compile`` of G_x in float32 (Inductor fuses BatchNorm, LeakyReLU and the elementwise
  work into fewer passes over the full-resolution maps: the memory-bound lever);
* ``bf16_conv_math``: float32 maps, but oneDNN computes the float32 convolutions' forward and input gradient
  from bfloat16-rounded inputs with float32 accumulation (``torch.backends.mkldnn.conv.fp32_precision = "bf16"``,
  torch >= 2.9): the CPU's counterpart of TF32, with every other operator in float32. The weight gradient stays
  in full float32 (in torch 2.14: equal bit for bit).

The variants run in turns (``--rounds`` rounds of ``--iterations`` timed iterations each, after one untimed
warm-up iteration per variant, which holds the compile time), so the machine's drift touches all of them alike.
The JSON line gives each variant's median seconds per iteration, its ratio to ``fp32`` from the same run, and how
far its output and its gradient of the first convolution are from ``fp32``'s (relative L2): a quick check of
what a precision costs, not the Levin quality check, which needs full solves.

It also gives a float32 floor for that work: the iteration's operations, counted by
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products as run, direct convolutions
counted as such, a multiply-add as 2; elementwise work not counted), at the best of two rates timed in the same
rounds: that of the iteration's largest convolution alone (the one with the most multiply-adds, found by forward
hooks; for the paper's G_x the full-resolution 3x3 one after the last skip concatenation; forward and backward,
float32, channels_last) and that of a large square matrix product, a shape BLAS libraries run near their peak.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import code_version, cpu_name
from selfdeblur.networks.image_generator import build_image_generator
from selfdeblur.options import Generators

VARIANTS = ("fp32", "bf16", "compiled", "bf16_conv_math")


@contextlib.contextmanager
def onednn_convolution_math(precision: str) -> Iterator[None]:
    """oneDNN's internal precision for float32 convolutions inside the block (``"bf16"``, ``"ieee"``, or
    ``"none"``: torch's global choice), the setting before it restored after."""
    settings = getattr(torch.backends.mkldnn, "conv", None)
    if settings is None or not hasattr(settings, "fp32_precision"):
        raise RuntimeError(
            f"bf16_conv_math needs torch >= 2.9 (torch.backends.mkldnn.conv); this is {torch.__version__}"
        )
    before = settings.fp32_precision
    settings.fp32_precision = precision
    try:
        yield
    finally:
        settings.fp32_precision = before


def image_generator(generators: Generators) -> nn.Module:
    return build_image_generator(generators).to(memory_format=torch.channels_last)


def iteration(variant: str, net: nn.Module, compiled: Callable, noise: torch.Tensor, target: torch.Tensor):
    """One forward and backward; the output and the first convolution's gradient (for the comparison)."""
    net.zero_grad(set_to_none=True)
    with contextlib.ExitStack() as stack:
        if variant == "bf16_conv_math":
            stack.enter_context(onednn_convolution_math("bf16"))
        if variant == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = net(noise)
        else:
            out = (compiled if variant == "compiled" else net)(noise)
        loss = torch.nn.functional.mse_loss(out.float(), target)
        loss.backward()
    first = next(p for p in net.parameters() if p.dim() == 4)
    assert first.grad is not None
    return out.detach().float(), first.grad.detach().clone()


class LargestConvolution:
    """The largest convolution of one iteration (the most multiply-adds) alone: a copy of it, float32,
    channels_last, on an input of its input's shape, run forward and backward (the input's gradient too when the
    original input needed one).

    ``gflop`` is what ``FlopCounterMode`` counts for that forward and backward.
    """

    def __init__(self, conv: nn.Conv2d, input_shape: torch.Size, input_needs_grad: bool) -> None:
        self.conv = copy.deepcopy(conv).float().to(memory_format=torch.channels_last)
        self.input = torch.rand(input_shape).to(memory_format=torch.channels_last).requires_grad_(input_needs_grad)
        with FlopCounterMode(display=False) as counter:
            self.run()
        self.gflop = counter.get_total_flops() / 1e9

    def run(self) -> None:
        self.conv.zero_grad(set_to_none=True)
        self.input.grad = None
        self.conv(self.input).sum().backward()

    def shape_text(self) -> str:
        c = self.conv
        return f"{c.in_channels}->{c.out_channels}, {c.kernel_size}, stride {c.stride}, input {list(self.input.shape)}"


class MatrixProduct:
    """A square float32 matrix product, ``size`` x ``size`` (``2 * size**3`` operations): a shape BLAS libraries run
    near their peak, for comparison with the convolution's rate."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.a, self.b = torch.rand(size, size), torch.rand(size, size)
        self.gflop = 2 * size**3 / 1e9
        self.run()

    def run(self) -> None:
        torch.mm(self.a, self.b)


def count_iteration(net: nn.Module, noise: torch.Tensor, target: torch.Tensor) -> tuple[float, LargestConvolution]:
    """One float32 forward and backward of ``net``: the GFLOP that ``FlopCounterMode`` counts (convolutions and
    matrix products, a multiply-add as 2; the elementwise work is not counted), and its largest convolution."""
    seen: list[tuple[int, nn.Conv2d, torch.Size, bool]] = []

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        kh, kw = module.kernel_size
        multiply_adds = output.numel() * module.in_channels // module.groups * kh * kw
        seen.append((multiply_adds, module, inputs[0].shape, inputs[0].requires_grad))

    hooks = [m.register_forward_hook(record) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with FlopCounterMode(display=False) as counter:
            iteration("fp32", net, net, noise, target)
    finally:
        for hook in hooks:
            hook.remove()
    _, conv, shape, needs_grad = max(seen, key=lambda entry: entry[0])
    return counter.get_total_flops() / 1e9, LargestConvolution(conv, shape, needs_grad)


def significant(value: float) -> float:
    """``value`` to 4 significant digits (rates span 0.1 GFLOP/s at test sizes to hundreds at Levin's)."""
    return float(f"{value:.4g}")


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def run(size: int, rounds: int, iterations: int, variants: Sequence[str], generators: Generators) -> dict[str, Any]:
    torch.manual_seed(0)
    net = image_generator(generators)
    noise = (0.1 * torch.rand(1, generators.input_channels, size, size)).to(memory_format=torch.channels_last)
    target = torch.rand(1, 1, size, size)
    compiled = torch.compile(net) if "compiled" in variants else net
    first_seconds, reference = {}, {}
    for variant in variants:  # warm-up: allocations, autotuning, compilation
        started = time.perf_counter()
        reference[variant] = iteration(variant, net, compiled, noise, target)
        first_seconds[variant] = round(time.perf_counter() - started, 2)
    gflop, largest = count_iteration(net, noise, target)
    largest.run()
    matmul = MatrixProduct()
    times: dict[str, list[float]] = {v: [] for v in variants}
    convolution_seconds: list[float] = []
    matmul_seconds: list[float] = []
    for _ in range(rounds):
        for variant in variants:
            for _ in range(iterations):
                started = time.perf_counter()
                iteration(variant, net, compiled, noise, target)
                times[variant].append(time.perf_counter() - started)
        for _ in range(iterations):
            started = time.perf_counter()
            largest.run()
            convolution_seconds.append(time.perf_counter() - started)
            started = time.perf_counter()
            matmul.run()
            matmul_seconds.append(time.perf_counter() - started)
    base = statistics.median(times["fp32"]) if "fp32" in times else None
    out_ref, grad_ref = reference.get("fp32", (None, None))
    convolution_rate = largest.gflop / statistics.median(convolution_seconds)
    matmul_rate = matmul.gflop / statistics.median(matmul_seconds)
    result: dict[str, Any] = {
        "size": size,
        "rounds": rounds,
        "iterations": iterations,
        "gflop_per_iteration": gflop,
        "largest_convolution": {
            "shape": largest.shape_text(),
            "gflop": largest.gflop,
            "median_s": round(statistics.median(convolution_seconds), 4),
            "gflop_per_s": significant(convolution_rate),
        },
        "matrix_product": {
            "size": matmul.size,
            "gflop_per_s": significant(matmul_rate),
        },
        "fp32_floor_s": significant(gflop / max(convolution_rate, matmul_rate)),
        "variants": {},
    }
    for variant in variants:
        median = statistics.median(times[variant])
        entry: dict[str, Any] = {
            "median_s": round(median, 4),
            "min_s": round(min(times[variant]), 4),
            "first_iteration_s": first_seconds[variant],
            "all_s": [round(t, 4) for t in times[variant]],
            "gflop_per_s": significant(gflop / median),
        }
        if base is not None:
            entry["speedup_vs_fp32"] = round(base / median, 3)
            out, grad = reference[variant]
            entry["output_relative_error"] = relative(out, out_ref)
            entry["gradient_relative_error"] = relative(grad, grad_ref)
        result["variants"][variant] = entry
    return result | {
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "bf16_supported": torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported(),
        "code": code_version(),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=271, help="G_x output side (H + k - 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations per variant and round")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--channels", type=int, default=128, help="G_x channels per scale (128: the paper's)")
    parser.add_argument("--out", help="append the JSON line to this file")
    args = parser.parse_args(argv)
    if "fp32" not in args.variants:
        parser.error("--variants must include fp32, the reference of the ratios")
    generators = Generators(image_channels=(args.channels,) * 5)
    result = run(args.size, args.rounds, args.iterations, args.variants, generators)
    line = json.dumps(result)
    print(line)
    if args.out:
        with Path(args.out).open("a") as f:
            f.write(line + "\n")
    return result


if __name__ == "__main__":
    main()
