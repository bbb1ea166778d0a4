"""G_k started from an earlier run's kernels (model.generators.kernel_init): the coarse-to-fine building block."""

from __future__ import annotations

import json

import numpy as np
import torch

from selfdeblur.cli import main
from selfdeblur.levin_protocol import kernel_similarity
from selfdeblur.networks.kernel_generator import FCKernelGenerator
from selfdeblur.reduced_problem import ReductionPlan, kernel_to_full_scale, kernel_to_scale
from tests.helpers import SELFDEBLUR_TINY as TINY
from tests.helpers import command_error

NAME = "camera_k5_seed0"  # the tiny config's synthetic image


def test_the_started_generator_outputs_the_kernel_whatever_its_input():
    g = FCKernelGenerator(7, in_features=200, hidden=(1000,))
    kernel = torch.zeros(7, 7)
    kernel[2, 1:6] = torch.tensor([0.1, 0.2, 0.4, 0.2, 0.1])
    g.start_at(kernel)
    for seed in range(3):
        out = g(torch.rand(200, generator=torch.Generator().manual_seed(seed)))
        assert (out - kernel).abs().max() < 0.01
    # Still a network: every layer learns.
    g(torch.rand(200)).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_a_kernel_taken_to_a_smaller_scale_and_back_keeps_its_shape():
    # A diagonal stroke 21 px long in a 31 px kernel, at the fast mode's scale for k = 31 and 11 px.
    kernel = torch.zeros(31, 31, dtype=torch.float64)
    for i in range(21):
        kernel[5 + i, 5 + i] = 1.0
    kernel /= kernel.sum()
    scale = 11 / 31
    reduced = kernel_to_scale(kernel, scale, 11)
    assert reduced.shape == (11, 11) and abs(float(reduced.sum()) - 1) < 1e-12 and float(reduced.min()) >= 0
    assert float(torch.diagonal(reduced).sum()) > 0.5  # still a diagonal stroke
    plan = ReductionPlan(scale=scale, kernel_size=11, size=(100, 100), crop=None, full_kernel_size=31)
    back = kernel_to_full_scale(reduced, plan)
    # Resampling twice widens the 1 px stroke to about 3 px (similarity 0.50 here): the shape and place stay, and
    # the mirrored stroke, across it, scores 0.08.
    assert kernel_similarity(back, kernel) > 0.45
    assert kernel_similarity(back, kernel.flip(0)) < 0.15


def fit(out, *extra):
    main(["fit", "--config", TINY, "--output.dir", str(out), "--trainer.logger", "false", *extra])


def test_a_run_started_from_an_earlier_runs_kernels_starts_at_them(tmp_path):
    fit(tmp_path / "first")
    first = np.load(tmp_path / "first" / f"{NAME}_kernel.npy")
    assert not np.allclose(first, np.flip(first))  # not symmetric: a wrong orientation would show
    # With G_k's learning rate almost zero, the second run's kernel is where it started: the first run's.
    second = tmp_path / "second"
    fit(second, "--model.generators.kernel_init", str(tmp_path / "first"), "--model.optimization.lr_kernel", "1e-12")
    assert (second / f"{NAME}_kernel.npy").is_file()
    assert np.abs(np.load(second / f"{NAME}_kernel.npy") - first).max() < 0.01
    # The settings recorded with the image name the starting kernels: a run from other kernels is a different run.
    (settings,) = (second / "settings").glob("*.json")
    assert json.loads(settings.read_text())["model.generators.kernel_init"] == str(tmp_path / "first")


def test_a_missing_starting_kernel_is_one_line_naming_the_file(tmp_path, capsys):
    args = ["fit", "--config", TINY, "--output.dir", str(tmp_path / "out"), "--trainer.logger", "false"]
    line = command_error(capsys, main, [*args, "--model.generators.kernel_init", str(tmp_path)], status=1)
    assert line == (
        f"selfdeblur: error: model.generators.kernel_init: no '{tmp_path / (NAME + '_kernel.npy')}' "
        f"to start image '{NAME}' from"
    )
