"""A killed SelfDeblur run resumes inside the image it was solving (selfdeblur.callbacks.ImageCheckpoint)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

from tests.helpers import REPO
from tests.helpers import SELFDEBLUR_TINY as TINY

STEPS = 10


def fit(out, *extra: str) -> subprocess.CompletedProcess:
    args = [
        "fit",
        "--config",
        TINY,
        "--model.optimization.steps",
        str(STEPS),
        "--model.optimization.milestones",
        "[5]",
        "--output.dir",
        str(out),
        "--trainer.logger",
        "false",
        *extra,
    ]
    code = "import sys; from selfdeblur.cli import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, check=False)


def test_a_run_killed_inside_an_image_resumes_where_it_was_and_ends_bit_for_bit_as_an_uninterrupted_one(tmp_path):
    whole = fit(tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]

    out = tmp_path / "killed"
    killed = fit(
        out,
        "--resume.every_n_steps",
        "3",
        "--trainer.callbacks+=tests.callbacks.ExitAtStep",
        "--trainer.callbacks.init_args.step",
        "7",
    )
    assert killed.returncode == 137
    states = list((out / ".in_progress").glob("*.pt"))
    assert len(states) == 1  # saved after steps 3 and 6, the last one kept
    assert not (out / "summary.csv").exists()  # the image is not done, and not taken for done

    resumed = fit(out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from step 6" in resumed.stdout
    assert not list((out / ".in_progress").glob("*"))  # removed once the image is written
    name = "camera_k5_seed0"
    for suffix in ("_kernel.npy",):
        assert np.array_equal(np.load(tmp_path / "whole" / f"{name}{suffix}"), np.load(out / f"{name}{suffix}"))
    assert (tmp_path / "whole" / f"{name}_deblurred.png").read_bytes() == (out / f"{name}_deblurred.png").read_bytes()


def test_a_run_stopped_by_sigterm_saves_its_last_step_and_resumes_bit_for_bit(tmp_path):
    whole = fit(tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]

    out = tmp_path / "terminated"
    # No periodic save would come before the end (every 10 minutes): only the one SIGTERM makes.
    terminated = fit(
        out, "--trainer.callbacks+=tests.callbacks.TerminateAfterBatches", "--trainer.callbacks.init_args.batches", "5"
    )
    assert terminated.returncode == 143, terminated.stdout[-2000:]  # 128 + SIGTERM, as a shell reports it
    assert terminated.stderr.rstrip().endswith("selfdeblur: error: stopped by SIGTERM after the step in progress")
    assert "camera_k5_seed0: stopped after step 5; the same command continues from there" in terminated.stdout
    assert len(list((out / ".in_progress").glob("*.pt"))) == 1 and not (out / "summary.csv").exists()

    resumed = fit(out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from step 5" in resumed.stdout
    name = "camera_k5_seed0"
    assert np.array_equal(np.load(tmp_path / "whole" / f"{name}_kernel.npy"), np.load(out / f"{name}_kernel.npy"))
    assert (tmp_path / "whole" / f"{name}_deblurred.png").read_bytes() == (out / f"{name}_deblurred.png").read_bytes()


def kill_after_step_4(out) -> None:
    """A run into ``out`` killed at step 4, with in-progress states saved every 2 steps."""
    killed = fit(
        out,
        "--resume.every_n_steps",
        "2",
        "--trainer.callbacks+=tests.callbacks.ExitAtStep",
        "--trainer.callbacks.init_args.step",
        "4",
    )
    assert killed.returncode == 137


def test_a_state_saved_with_other_settings_is_not_used(tmp_path):
    out = tmp_path / "run"
    kill_after_step_4(out)
    other = fit(out, "--model.optimization.lr_image", "0.02")
    assert other.returncode == 0, other.stderr[-2000:]
    assert "in-progress state made with other settings; from step 0" in other.stdout
    assert "resuming" not in other.stdout


def test_a_state_saved_before_an_option_existed_is_used_while_the_option_is_at_its_default(tmp_path):
    out = tmp_path / "run"
    kill_after_step_4(out)
    (path,) = (out / ".in_progress").glob("*.pt")
    state = torch.load(path, weights_only=True)
    del state["settings"]["fast"]["coarse_kernel_sizes"]  # as a state saved before the option was added
    torch.save(state, path)
    resumed = fit(out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from step 4" in resumed.stdout
