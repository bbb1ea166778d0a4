"""The levers benchmark times each variant against fp32 in one run and says what each precision costs."""

from __future__ import annotations

import json

import pytest

from benchmarks import selfdeblur_levers as benchmark


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


def test_levers_need_the_fp32_reference():
    with pytest.raises(SystemExit):
        benchmark.main(["--variants", "bf16"])
