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
    # The floor is the iteration's operations at the largest convolution's rate, from the same run.
    rate = result["largest_convolution"]["gflop_per_s"]
    assert result["fp32_floor_s"] == pytest.approx(result["gflop_per_iteration"] / rate, rel=0.01)
    assert result["gflop_per_iteration"] > result["largest_convolution"]["gflop"] > 0


def test_largest_convolution_counts_forward_and_both_gradients():
    # By hand: a 3x3 convolution from 4 + 16 to 4 channels on 30x30 outputs is 2 * 20 * 4 * 9 * 900 operations
    # (a multiply-add is 2) forward, as many for the input's gradient and again for the weight's.
    generators = Generators(image_channels=(4,) * 5)
    largest = benchmark.LargestConvolution(generators, 30)
    assert largest.conv.in_channels == 20 and largest.conv.out_channels == 4
    assert largest.gflop == pytest.approx(3 * 2 * 20 * 4 * 9 * 30 * 30 / 1e9)


def test_bf16_convolution_math_stays_close_and_is_switched_off_after():
    argv = ["--size", "40", "--rounds", "1", "--iterations", "1", "--channels", "4"]
    before = torch.backends.mkldnn.conv.fp32_precision
    result = benchmark.main([*argv, "--variants", "fp32", "bf16_conv_math"])
    assert torch.backends.mkldnn.conv.fp32_precision == before
    variant = result["variants"]["bf16_conv_math"]
    # bfloat16-rounded inputs, float32 sums and float32 maps: at most about autocast's error (test above).
    assert variant["output_relative_error"] < 0.05 and variant["gradient_relative_error"] < 0.5


def test_levers_need_the_fp32_reference():
    with pytest.raises(SystemExit):
        benchmark.main(["--variants", "bf16"])
