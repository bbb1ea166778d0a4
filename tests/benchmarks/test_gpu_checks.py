"""The prepared GPU run (benchmarks/gpu/run_checks.py) at tiny sizes on the CPU, so that it cannot rot."""

from __future__ import annotations

import json

from benchmarks.gpu.run_checks import LIMITS, PARTS, main


def test_every_part_of_the_gpu_run_works_at_tiny_sizes_on_the_cpu(tmp_path):
    # The GPU run must fit in 9 minutes whatever happens: the parts' limits bound it.
    assert sum(LIMITS.values()) <= 9 * 60 - 30 and set(LIMITS) == set(PARTS)
    summary = main(["--out", str(tmp_path), "--dry-run"])
    statuses = {name: part["status"] for name, part in summary["parts"].items()}
    assert statuses == dict.fromkeys(PARTS, "ok"), (tmp_path / "log.txt").read_text()[-3000:]
    parts = summary["parts"]
    assert parts["levin_stacked"]["images"] == 2 and parts["levin_stacked"]["seconds_per_step"] > 0
    assert len(parts["tf32"]["psnr_difference_db"]) == 2
    # On the CPU TF32 does not exist: both runs compute in float32, and give the same PSNR.
    assert parts["tf32"]["within_0_1_db"]
    assert parts["photo_memory"]["fast"]["estimate_bytes"] > 0
    assert parts["niqe_cuda"]["max_difference"] == 0
    assert parts["reblur_bf16"]["losses_finite"] and parts["reblur_bf16"]["logged_losses"] > 0
    assert parts["nccl"]["ok"]
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert set(on_disk["parts"]) == set(PARTS) and "torch" in on_disk["environment"]
