"""benchmarks.deconvolution_weight: a stored kernel re-deconvolved at several weights."""

from __future__ import annotations

import json

import pytest

from benchmarks.deconvolution_weight import main
from deblur_core.motion_blur import random_motion_kernel


def test_a_stored_true_kernel_scores_as_the_true_kernel_and_deblurs(tmp_path, block_photo_case):
    line = block_photo_case | {
        "name": "photo_k5",
        "kernel": random_motion_kernel(5, seed=1).tolist(),  # "estimated" exactly
        "fast_options": {"saturation": 0.98, "tile": 1024, "cg_iterations": 20},
    }
    source = tmp_path / "cases.jsonl"
    source.write_text(json.dumps(line) + "\n" + json.dumps({"name": "old", "noise": 0.01}) + "\n")
    out, md = tmp_path / "w.jsonl", tmp_path / "w.md"
    argv = ["--from", str(source), "--names", "photo_k5", "--weights", "0.0005", "0.02", "--crop", "32", "40"]
    main([*argv, "--out", str(out), "--report", str(md)])
    rows = [json.loads(t) for t in out.read_text().splitlines()]
    assert [r["name"] for r in rows] == ["photo_k5@0.0005", "photo_k5@0.02"]
    for r in rows:
        assert r["estimated_kernel"] == pytest.approx(r["true_kernel"], abs=1e-4)
        assert r["auto"] == pytest.approx(0.002)  # 0.5% noise: the floor
    assert rows[0]["true_kernel"] > rows[0]["blurry"] + 3  # light noise, sharp blocks: deconvolution pays
    assert rows[1]["true_kernel"] < rows[0]["true_kernel"]  # 40x the weight smooths the blocks' edges away
    assert "| 0.0005 | " in md.read_text() and "**photo_k5** (noise 0.005; crop 32x40" in md.read_text()
    main([*argv, "--out", str(out)])  # weights already swept are not run again
    assert len(out.read_text().splitlines()) == 2
    with pytest.raises(SystemExit):
        main(["--from", str(source), "--names", "old", "--out", str(out)])  # no stored kernel
