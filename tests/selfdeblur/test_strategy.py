"""SelfDeblur on several processes: each rank solves its own share of the images, each image is
written once, the summaries are merged, and results equal a one-process run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

from selfdeblur.callbacks import ResultWriter
from selfdeblur.data import SelfDeblurDataModule
from tests.helpers import tiny_model_options
from tests.selfdeblur.test_fast_paths import write_images


def run_cli(tmp_path, folder, sizes, out, devices):
    config = {
        "seed_everything": 0,
        "model": {"optimization": {"steps": 4, "mse_steps": 2, "milestones": []}, **tiny_model_options()},
        "data": {"images": str(folder), "kernel_sizes": sizes},
        "output": {"dir": str(out)},
        "trainer": {"accelerator": "cpu", "devices": devices, "enable_progress_bar": False, "logger": False},
        "snapshots": {"every_n_steps": 0},
    }
    path = tmp_path / f"config{devices}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "WORLD_SIZE", "NODE_RANK")}
    command = [sys.executable, "-m", "selfdeblur.cli", "fit", "--config", str(path)]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with (out / "summary.csv").open(newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def test_two_processes_share_the_images_and_match_one(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    sizes = write_images(folder, {"a": (5, 0, 20), "b": (5, 3, 20), "c": (7, 1, 18)})
    two = run_cli(tmp_path, folder, sizes, tmp_path / "two", devices=2)
    one = run_cli(tmp_path, folder, sizes, tmp_path / "one", devices=1)
    # Groups a, b, c go to ranks 0, 1, 0; one merged table, no per-rank tables left.
    assert {name: row["rank"] for name, row in two.items()} == {"a": "0", "b": "1", "c": "0"}
    assert not list((tmp_path / "two").glob("summary.rank*.csv"))
    for name in sizes:
        kernel_two = np.load(tmp_path / "two" / f"{name}_kernel.npy")
        kernel_one = np.load(tmp_path / "one" / f"{name}_kernel.npy")
        # Each process uses one CPU thread there, two here: summation order differs, nothing else.
        np.testing.assert_allclose(kernel_two, kernel_one, rtol=0, atol=1e-6)
        image_two = np.asarray(Image.open(tmp_path / "two" / f"{name}_deblurred.png"), dtype=int)
        image_one = np.asarray(Image.open(tmp_path / "one" / f"{name}_deblurred.png"), dtype=int)
        assert np.abs(image_two - image_one).max() <= 1
        assert float(two[name]["final_loss"]) == pytest.approx(float(one[name]["final_loss"]), rel=1e-4)


def test_rank_shares_cover_every_group_once_with_equal_step_counts(tmp_path):
    sizes = write_images(tmp_path, {n: (5, i, 20) for i, n in enumerate("abcde")})
    dm = SelfDeblurDataModule(images=str(tmp_path), kernel_sizes=sizes)
    dm.setup("fit")
    shares = [dm.rank_share(rank, 3) for rank in range(3)]
    names = [[g[0].name for g in groups] for groups, _ in shares]
    assert names == [["a", "d"], ["b", "e"], ["c"]]
    assert [len(groups) + idle for groups, idle in shares] == [2, 2, 2]


def test_summaries_left_by_a_stopped_multi_process_run_are_read(tmp_path):
    writer = ResultWriter(dir=str(tmp_path))
    writer.root = tmp_path
    for rank, name in ((0, "a"), (1, "b")):
        (tmp_path / f"summary.rank{rank}.csv").write_text(f"name,steps\n{name},5\n")
    (tmp_path / "summary.csv").write_text("name,steps\nc,5\n")
    assert sorted(writer.read_summary()) == ["a", "b", "c"]
