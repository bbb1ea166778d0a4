"""benchmarks.draw_choice: truth-free scores of several draws and the rules that choose among them."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.draw_choice import main
from deblur_core.motion_blur import random_motion_kernel
from selfdeblur.kernel_choice import normalised_sparsity, peak_mass


def test_peak_mass_of_a_delta_a_flat_and_a_two_level_kernel():
    delta = torch.zeros(5, 5)
    delta[2, 2] = 1
    assert peak_mass(delta) == pytest.approx(1.0)
    assert peak_mass(torch.ones(10, 10)) == pytest.approx(0.1)  # 10 of 100 equal values
    two_level = torch.ones(10, 10)
    two_level[0, :] = 9  # 10 values of 9 (90 of the mass 180) above 90 values of 1
    assert peak_mass(two_level) == pytest.approx(0.5)


def test_normalised_sparsity_by_hand():
    step = torch.zeros(4, 4)
    step[:, 2:] = 1  # one horizontal difference of 1 per row: l1 = 4, l2 = 2
    assert normalised_sparsity(step) == pytest.approx(2.0)
    ramp = torch.arange(4.0).repeat(4, 1)  # 12 horizontal differences of 1: l1 = 12, l2 = sqrt(12)
    assert normalised_sparsity(ramp) == pytest.approx(12**0.5)


def test_the_rules_pick_among_the_draws_of_one_problem(tmp_path, block_photo_case):
    true = random_motion_kernel(5, seed=1)
    delta = torch.zeros(5, 5)
    delta[2, 2] = 1
    shared = block_photo_case | {
        "steps": 10,
        "tv_weight": "auto",
        "fast": {"max_kernel_size": 11},
        "smoothness_used": 0.002,
        "blurry": {"psnr": 20.0},
        "fast_options": {"enabled": True, "max_kernel_size": 11, "crop": 16, "cg_iterations": 20},
    }
    problem = "photo_k5_seed1_noise0.005"  # as selfdeblur_fast names it
    # Three draws of one problem: the true kernel twice (it agrees with itself) and a delta; fabricated gains.
    lines = [
        shared
        | {
            "name": "p",
            "problem": problem,
            "kernel": true.tolist(),
            "kernel_similarity": 1.0,
            "fast_mode": {"psnr": 23.0},
        },
        shared
        | {
            "name": "p_init1",
            "problem": problem,
            "kernel": delta.tolist(),
            "kernel_similarity": 0.3,
            "fast_mode": {"psnr": 19.0},
        },
        # Made before lines recorded their problem: the same problem and settings, drawn by its name.
        shared | {"name": "p", "kernel": true.tolist(), "kernel_similarity": 1.0, "fast_mode": {"psnr": 22.0}},
        shared
        | {
            "name": "other",
            "problem": "q",
            "kernel": delta.tolist(),
            "kernel_similarity": 0.3,
            "fast_mode": {"psnr": 1.0},
        },
    ]
    source = tmp_path / "draws.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out, md = tmp_path / "scores.jsonl", tmp_path / "choice.md"
    main(["--from", str(source), "--out", str(out), "--report", str(md)])
    rows = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"p", "p_init1", "p (drawn by name)"}  # "other" is alone in its group: not scored
    assert rows["p_init1"]["peak_mass"] == pytest.approx(1.0)
    assert rows["p"]["peak_mass"] < 1.0
    # The delta deconvolves to the blurry region itself; the true kernel restores the blocks' sharp edges.
    assert rows["p_init1"]["sparsity"] == pytest.approx(rows["p_init1"]["sparsity_blurry"], rel=0.02)
    assert rows["p"]["sparsity"] < rows["p"]["sparsity_blurry"]
    text = md.read_text()
    assert f"**{problem}** (3 draws; blurry 20.00 dB)" in text
    # spread, sparsity and consensus all keep a true-kernel draw (the first listed: +3.00); mean +1.33.
    assert f"| {problem} | +1.33 | +3.00 | -1.00 | +3.00 | +3.00 | +3.00 |" in text
    main(["--from", str(source), "--out", str(out)])  # scored draws are not scored again
    assert len(out.read_text().splitlines()) == 3
