"""The benchmark entry point prints one JSON line with the documented fields."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from benchmarks import selfdeblur_speed as benchmark
from selfdeblur.host_memory import runs_on_glibc


def test_benchmark_prints_json(tmp_path, capsys):
    path = tmp_path / "blurry.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 42), dtype=np.uint8)).save(path)
    result = benchmark.main(
        ["--image", str(path), "--kernel-size", "5", "--steps", "3", "--warmup", "1", "--accelerator", "cpu"]
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == result
    assert printed["steps_timed"] == 3 and printed["warmup"] == 1
    assert (printed["height"], printed["width"], printed["kernel_size"]) == (40, 42, 5)
    assert 0 < printed["min_step_s"] <= printed["median_step_s"]
    assert printed["peak_rss_mb"] >= printed["rss_before_mb"] > 0
    assert printed["device"].startswith("cpu") and printed["torch"]
    # The default (fast) path keeps freed host memory on the CPU where the C library is glibc; the GPU's
    # float32 choice does not apply to a CPU run.
    assert printed["host_memory_kept"] is runs_on_glibc() and printed["float32_precision"] is None


def test_benchmark_profile_reports_operators_per_step(tmp_path):
    path = tmp_path / "blurry.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (36, 36), dtype=np.uint8)).save(path)
    result = benchmark.run(str(path), kernel_size=5, steps=2, warmup=1, accelerator="cpu", profile=True)
    profile = result["profile"]
    assert profile["profiled_steps"] == 2  # the timed steps only
    ops = profile["top_ops_ms_per_step"]
    assert any("convolution" in name for name in ops)
    assert 0 < profile["convolution_ms_per_step"] < profile["self_cpu_ms_per_step"]
    assert sum(ops.values()) <= profile["self_cpu_ms_per_step"] + 0.1  # the top operators are a part of the whole
