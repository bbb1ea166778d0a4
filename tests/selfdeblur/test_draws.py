"""Several draws of the fast mode's reduced problem (model.fast.draws) and the truth-free choice of one kernel
(selfdeblur.kernel_choice)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblur_core.blur import convolve_valid
from deblur_core.motion_blur import random_motion_kernel
from selfdeblur import FastMode, Generators, Optimization, SelfDeblur
from selfdeblur.api import solver_trainer
from selfdeblur.data import BlurryImage, ImagesInMemory
from selfdeblur.full_resolution import deconvolve_photo, smoothness_for
from selfdeblur.kernel_choice import choose_kernel, consensus, kernel_scores, normalised_sparsity, peak_mass
from selfdeblur.levin_protocol import kernel_similarity
from selfdeblur.memory_estimate import FIXED, estimate_peak_bytes
from selfdeblur.reduced_problem import estimation_region, fast_mode_plan, kernel_to_full_scale
from tests.selfdeblur.test_fast_mode import texture
from tests.selfdeblur.test_resume_in_image import fit

TINY_GENERATORS = Generators(image_channels=(4, 4), skip_channels=(2, 2), non_local_scales=0, kernel_hidden=(16,))


# -- the rules -------------------------------------------------------------------------------------
def test_consensus_keeps_the_kernel_the_others_agree_with_whatever_its_shift():
    path = random_motion_kernel(9, seed=3)
    delta = torch.zeros(9, 9)
    delta[4, 4] = 1
    # Two estimates of the same path (one shifted by a pixel, as a free kernel may come back) and a wrong one.
    kernels = [delta, path.roll(1, 0), path]
    scores = consensus(kernels)
    assert scores[1] == pytest.approx(scores[2]) and scores[1] > scores[0]
    # Each score by hand: the mean of the similarities to the two others.
    assert scores[0] == pytest.approx((kernel_similarity(delta, path.roll(1, 0)) + kernel_similarity(delta, path)) / 2)
    assert choose_kernel(kernels, "consensus") == 1  # the first of the two equal ones
    assert consensus([path]) == [1.0]


def test_spread_keeps_the_least_compact_kernel():
    flat = torch.full((5, 5), 1 / 25)
    delta = torch.zeros(5, 5)
    delta[2, 2] = 1
    assert peak_mass(flat) == pytest.approx(3 / 25)  # the largest tenth of 25 values: 3 of them
    assert peak_mass(delta) == pytest.approx(1.0)
    assert choose_kernel([delta, flat], "spread") == 1
    with pytest.raises(ValueError, match="at least one kernel"):
        choose_kernel([], "spread")
    with pytest.raises(ValueError, match="unknown rule 'median'"):
        choose_kernel([flat], "median")  # type: ignore[arg-type]


def test_sparsity_keeps_the_kernel_whose_deconvolution_has_the_sparsest_gradients():
    sharp = texture(1, 64, 64, seed=2)  # piecewise-constant blocks: few, strong edges
    true = random_motion_kernel(7, seed=4)
    blurry = convolve_valid(sharp[None], true)[0]
    delta = torch.zeros(7, 7)
    delta[3, 3] = 1

    def deconvolve(kernel: torch.Tensor) -> torch.Tensor:
        return deconvolve_photo(blurry, kernel, 0.002, cg_iterations=30)

    with_delta, with_truth = kernel_scores([delta, true], "sparsity", deconvolve)
    # The delta leaves the blur (each edge spread over several small differences); the true kernel undoes it.
    assert with_delta == pytest.approx(normalised_sparsity(blurry[0]), rel=0.02)
    assert with_truth < 0.8 * with_delta
    assert choose_kernel([delta, true, true.t()], "sparsity", deconvolve) == 1
    with pytest.raises(ValueError, match="needs a deconvolve function"):
        choose_kernel([delta], "sparsity")


def test_draw_options_are_checked():
    with pytest.raises(ValueError, match="model.fast.draws must be an integer >= 1, got 0"):
        FastMode(draws=0)
    with pytest.raises(ValueError, match="model.fast.choose must be 'consensus' or 'spread' or 'sparsity', got 'best'"):
        FastMode(choose="best")  # type: ignore[arg-type]


def test_the_estimation_memory_grows_with_the_draws():
    one, three = (estimate_peak_bytes(720, 1280, 31, 100.0, FastMode(enabled=True, draws=d), 0) for d in (1, 3))
    assert three.problem - FIXED == pytest.approx(3 * (one.problem - FIXED), rel=1e-6)
    assert three.deconvolution == one.deconvolution  # one kernel deconvolves the photo, whatever the draws


# -- in the module ---------------------------------------------------------------------------------
def solve(draws: int, choose: str = "consensus", enabled: bool | str = True) -> SelfDeblur:
    fast = FastMode(enabled=enabled, crop=32, draws=draws, choose=choose)  # type: ignore[arg-type]
    model = SelfDeblur(Optimization(steps=3, milestones=()), TINY_GENERATORS, fast=fast)
    solver_trainer("cpu").fit(model, datamodule=ImagesInMemory([BlurryImage("photo", 21, texture(3, 90, 120, 6))]))
    return model


def test_draws_are_solved_together_the_first_is_the_one_draw_run_and_the_kept_kernel_deconvolves_the_photo():
    single = solve(draws=1)
    model = solve(draws=3)
    snapshot = model.snapshot()
    assert [name for name, _, _ in snapshot] == ["photo", "photo@draw1", "photo@draw2"]
    # Each draw starts from its own initialisation; the first is the one-draw run's, step for step.
    (_, _, alone), kernels = single.snapshot()[0], [kernel for _, _, kernel in snapshot]
    assert torch.allclose(kernels[0], alone, atol=1e-6)
    assert min((kernels[0] - k).abs().max() for k in kernels[1:]) > 1e-4
    (result,) = model.finished  # one result for the image, not one per draw
    assert result.name == "photo" and result.image.shape == (3, 90, 120) and result.group_size == 1
    plan = fast_mode_plan(model.fast, 90, 120, 21)
    assert plan is not None
    full = [kernel_to_full_scale(k.double(), plan) for k in kernels]
    kept = choose_kernel(full, "consensus")
    assert torch.allclose(result.kernel, full[kept].float(), atol=1e-6)
    assert result.note.startswith(f"draw {kept + 1} of 3 kept (consensus: mean similarity to the others ")
    # The default rule deconvolves the estimation window's region with each kernel.
    sparse = solve(draws=3, choose="sparsity")
    region = estimation_region(texture(3, 90, 120, 6), plan)
    assert region.shape == (3, 62, 62)  # the 32 px window of the 47 x 63 reduced image: 61.3 px, partial ones kept
    weight = smoothness_for(texture(3, 90, 120, 6), "auto")
    scores = kernel_scores(full, "sparsity", lambda k: deconvolve_photo(region, k.float(), weight))
    kept = min(range(3), key=lambda i: scores[i])
    assert torch.allclose(sparse.finished[0].kernel, full[kept].float(), atol=1e-6)
    assert sparse.finished[0].note == f"draw {kept + 1} of 3 kept (sparsity: l1/l2 {scores[kept]:.3f})"
    assert FastMode().choose == "sparsity"


def test_a_draw_that_fails_is_left_out_and_the_image_is_solved(monkeypatch):
    original = SelfDeblur._loss

    def nan_for_the_second_draw(self, problem, estimate, step, tv_weight):
        loss = original(self, problem, estimate, step, tv_weight)
        return loss * float("nan") if problem.name == "photo@draw1" else loss

    monkeypatch.setattr(SelfDeblur, "_loss", nan_for_the_second_draw)
    with pytest.warns(UserWarning, match="photo@draw1"):
        model = solve(draws=3, choose="spread")
    (result,) = model.finished
    assert result.status == "ok" and "1 failed" in result.note and "draw 2 of 3" not in result.note


def test_an_image_whose_draws_all_fail_is_reported_failed_and_the_run_ends(monkeypatch):
    original = SelfDeblur._loss
    monkeypatch.setattr(SelfDeblur, "_loss", lambda *args: original(*args) * float("nan"))
    with pytest.warns(UserWarning, match="became nan"):
        model = solve(draws=3)
    (result,) = model.finished
    assert result.failed and result.note == "all 3 draws failed"


def test_images_in_the_papers_mode_are_solved_once():
    model = solve(draws=3, enabled="auto")  # 90 x 120 is below fast.above_pixels: the paper's mode
    assert [name for name, _, _ in model.snapshot()] == ["photo"] and model.finished[0].note == ""


def test_a_run_with_draws_killed_inside_the_image_resumes_bit_for_bit(tmp_path):
    draws = ["--model.fast.enabled", "true", "--model.fast.max_kernel_size", "3", "--model.fast.crop", "null"]
    draws += ["--model.fast.draws", "3"]
    whole = fit(tmp_path / "whole", *draws)
    assert whole.returncode == 0, whole.stderr[-2000:]
    assert "draw " in whole.stdout and " of 3 kept (sparsity" in whole.stdout
    out = tmp_path / "killed"
    kill = ["--resume.every_n_steps", "3", "--trainer.callbacks+=tests.callbacks.ExitAtStep"]
    killed = fit(out, *draws, *kill, "--trainer.callbacks.init_args.step", "7")
    assert killed.returncode == 137
    resumed = fit(out, *draws)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from step 6" in resumed.stdout
    name = "camera_k5_seed0"
    assert np.array_equal(np.load(tmp_path / "whole" / f"{name}_kernel.npy"), np.load(out / f"{name}_kernel.npy"))
    # Asking for another number of draws in the same folder is another setting.
    other = fit(out, *draws[:-1], "2")
    assert other.returncode != 0 and "settings" in (other.stdout + other.stderr).lower()
