"""The levers benchmark times each variant against fp32 in one run and says what each precision costs."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import selfdeblur_levers as benchmark
from selfdeblur.options import Generators


def test_levers_print_ratios_and_errors_against_fp32(tmp_path, capsys):
    out = tmp_path / "levers.jsonl"
    argv = ["--size", "48", "--rounds", "2", "--iterations", "1", "--channels", "4", "--variants", "fp32", "bf16"]
    result = benchmark.main([*argv, "--out", str(out)])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == result == json.loads(out.read_text())
    fp32, bf16 = result["variants"]["fp32"], result["variants"]["bf16"]
    # fp32 is its own reference; bfloat16 keeps 8 bits of mantissa, so its output moves by about 2^-8 relative.
    assert fp32["speedup_vs_fp32"] == 1.0 and fp32["output_relative_error"] == 0.0
    assert 0 < bf16["output_relative_error"] < 0.05 and 0 < bf16["gradient_relative_error"] < 0.5
    assert 0 < fp32["min_s"] <= fp32["median_s"] and bf16["speedup_vs_fp32"] > 0
    assert result["size"] == 48 and result["torch"]
    # The floor is the iteration's operations at the better of the two rates timed in the same run.
    rates = result["largest_convolution"]["gflop_per_s"], result["matrix_product"]["gflop_per_s"]
    assert result["fp32_floor_s"] == pytest.approx(result["gflop_per_iteration"] / max(rates), rel=0.01)
    assert result["gflop_per_iteration"] > result["largest_convolution"]["gflop"] > 0


def test_the_largest_convolution_is_found_by_its_multiply_adds():
    # Scale i's merge maps skip_channels[i] + image_channels[i + 1] to image_channels[i] channels at 1 / 2^i of the
    # output's side. With 2 channels at scale 0 and 64 at scale 1, on a 64x64 output the largest convolution is
    # scale 1's merge, 3x3 from 16 + 4 to 64 channels on 32x32 (20 * 64 * 9 * 1024 multiply-adds), not the
    # full-resolution one (16 + 64 to 2 channels: 80 * 2 * 9 * 4096) nor scale 1's inner 3x3 (64 * 64 * 9 * 256).
    # Forward, input gradient and weight gradient: 3 x 2 x that.
    generators = Generators(image_channels=(2, 64, 4, 4, 4))
    net = benchmark.image_generator(generators)
    noise = torch.rand(1, generators.input_channels, 64, 64).to(memory_format=torch.channels_last)
    gflop, largest = benchmark.count_iteration(net, noise, torch.rand(1, 1, 64, 64))
    assert (largest.conv.in_channels, largest.conv.out_channels, largest.conv.stride) == (20, 64, (1, 1))
    assert list(largest.input.shape) == [1, 20, 34, 34] and largest.input.requires_grad
    assert largest.gflop == pytest.approx(3 * 2 * 20 * 64 * 9 * 32 * 32 / 1e9)
    assert gflop > largest.gflop


needs_onednn_precision = pytest.mark.skipif(
    not hasattr(getattr(torch.backends.mkldnn, "conv", None), "fp32_precision"),
    reason="oneDNN's fp32_precision setting needs torch >= 2.9",
)


@needs_onednn_precision
def test_bf16_convolution_math_holds_through_the_backward_and_is_switched_off_after():
    generators = Generators(image_channels=(4,) * 5)
    net = benchmark.image_generator(generators)
    seen = []
    first = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    first.register_full_backward_pre_hook(lambda *_: seen.append(torch.backends.mkldnn.conv.fp32_precision))
    before = torch.backends.mkldnn.conv.fp32_precision
    noise = torch.rand(1, generators.input_channels, 40, 40).to(memory_format=torch.channels_last)
    target = torch.rand(1, 1, 40, 40)
    out, _ = benchmark.iteration("bf16_conv_math", net, net, noise, target)
    assert seen == ["bf16"] and torch.backends.mkldnn.conv.fp32_precision == before
    out_fp32, _ = benchmark.iteration("fp32", net, net, noise, target)
    assert seen == ["bf16", before]
    # bfloat16-rounded inputs, float32 sums: within bfloat16's relative precision of float32's output.
    assert float((out - out_fp32).norm() / out_fp32.norm()) < 0.05
    with pytest.raises(ZeroDivisionError), benchmark.onednn_convolution_math("bf16"):
        _ = 1 / 0
    assert torch.backends.mkldnn.conv.fp32_precision == before


def test_levers_need_the_fp32_reference():
    with pytest.raises(SystemExit):
        benchmark.main(["--variants", "bf16"])
