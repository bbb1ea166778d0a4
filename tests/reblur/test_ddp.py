"""Two-process DDP on CPU (gloo) through the ``reblur`` command: both ranks end with identical weights."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from tests.helpers import REBLUR_TINY as TINY
from tests.helpers import REPO


def test_two_process_ddp_keeps_ranks_identical(tmp_path):
    out = tmp_path / "weights"
    command = [sys.executable, "-m", "reblur.cli", "fit", "--config", TINY]
    command += ["--trainer.devices", "2", "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(tmp_path)]
    command += ["--trainer.callbacks+=tests.reblur.rank_weights.SaveRankWeights", f"--trainer.callbacks.folder={out}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("LOCAL_RANK", None)
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ddp_find_unused_parameters_true" in (tmp_path / "lightning_logs" / "version_0" / "config.yaml").read_text()

    start = [torch.load(out / f"rank{r}_start.pt") for r in (0, 1)]
    end = [torch.load(out / f"rank{r}_end.pt") for r in (0, 1)]
    # Each rank trained on its own half of the data (4 pairs, batch 2: one batch per rank and epoch)...
    assert len(end[0]["seen"]) == len(end[1]["seen"]) == 4
    assert set(end[0]["seen"][:2]).isdisjoint(end[1]["seen"][:2])
    for key, value in end[0]["state"].items():
        # ...yet gradients were averaged, so the weights agree bit for bit and moved from the start.
        assert torch.equal(value, end[1]["state"][key]), key
        assert torch.equal(start[0]["state"][key], start[1]["state"][key]), key
    moved = [not torch.equal(end[0]["state"][k], start[0]["state"][k]) for k in end[0]["state"]]
    assert all(moved)
