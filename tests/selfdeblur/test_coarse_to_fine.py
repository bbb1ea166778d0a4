"""Coarse to fine in one run (model.fast.coarse_kernel_sizes): each stage solves its own scale, the next starts G_k
at its kernel, and a killed run resumes inside any stage bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblur_core.blur import to_convolution_kernel
from selfdeblur import FastMode, Generators, Optimization, SelfDeblur, SelfDeblurDataModule, SyntheticBlur
from selfdeblur.api import solver_trainer
from selfdeblur.reduced_problem import kernel_to_full_scale, kernel_to_scale
from tests.selfdeblur.test_resume_in_image import fit

NAME = "camera_k5_seed0"
STAGES = ["--model.fast.enabled", "true", "--model.fast.max_kernel_size", "5", "--model.fast.crop", "null"]
STAGES += ["--model.fast.coarse_kernel_sizes", "[3]"]


def two_stage_model(steps: int) -> SelfDeblur:
    """A tiny SelfDeblur with a 3 px stage before the final 5 px one, ``steps`` per stage."""
    return SelfDeblur(
        Optimization(steps=steps, milestones=(2,), mse_steps=2),
        Generators(image_channels=(8, 8), skip_channels=(4, 4), non_local_scales=0, kernel_hidden=(32,)),
        fast=FastMode(enabled=True, max_kernel_size=5, crop=None, coarse_kernel_sizes=(3,)),
    )


def test_each_stage_solves_its_scale_and_the_next_starts_at_the_last_kernel(monkeypatch):
    model = two_stage_model(steps=4)
    assert model.steps == 8  # the whole schedule in each of the 2 stages
    seen: list[dict] = []
    start_stage = SelfDeblur.start_stage

    def recording(self: SelfDeblur, stage: int, carry_kernels: bool = True) -> None:
        (problem,) = self.problems
        with torch.no_grad():
            (last,) = self.problems.filters()
        plan = self._full_size[problem.name][1]
        start_stage(self, stage, carry_kernels)
        (new,) = self.problems
        with torch.no_grad():
            (first,) = self.problems.filters()
        seen.append({"before": (problem.kernel_size, plan, last), "after": (new.kernel_size, first)})

    monkeypatch.setattr(SelfDeblur, "start_stage", recording)
    data = SelfDeblurDataModule(synthetic=SyntheticBlur(size=24, kernel_size=5))
    solver_trainer("cpu", progress=False).fit(model, datamodule=data)

    (switch,) = seen
    size, plan, last = switch["before"]
    assert (size, plan.kernel_size, plan.full_kernel_size) == (3, 3, 5) and plan.scale == pytest.approx(0.6)
    new_size, first = switch["after"]
    assert new_size == 5
    # G_k starts the fine stage at the coarse kernel brought to full scale and then to the fine one (here 1).
    expected = kernel_to_scale(kernel_to_full_scale(to_convolution_kernel(last.double()), plan), 1.0, 5)
    assert (to_convolution_kernel(first.double()) - expected).abs().max() < 0.01
    (result,) = model.finished
    assert result.steps == 8 and result.kernel.shape == (5, 5) and result.image.shape[-2:] == (24, 24)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    whole = fit(out, *STAGES)
    assert whole.returncode == 0, whole.stderr[-2000:]
    assert f"{NAME}: 20 steps" in whole.stdout
    return out


@pytest.mark.parametrize(("every", "kill", "resumes_from"), [(5, 7, 5), (5, 12, 10), (3, 15, 15)])
def test_a_run_killed_in_any_stage_resumes_bit_for_bit(tmp_path, uninterrupted, every, kill, resumes_from):
    # 10 steps per stage: a kill in the coarse stage, one resuming exactly at the switch (the state saved after the
    # coarse stage's last step), and one inside the fine stage. (Before stages, a fast-mode state was never used:
    # it recorded the reduced kernel size, the batches the full one.)
    out = tmp_path / "killed"
    killed = fit(
        out,
        *STAGES,
        "--resume.every_n_steps",
        str(every),
        "--trainer.callbacks+=tests.callbacks.ExitAtStep",
        "--trainer.callbacks.init_args.step",
        str(kill),
    )
    assert killed.returncode == 137
    resumed = fit(out, *STAGES)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from step {resumes_from}" in resumed.stdout
    assert np.array_equal(np.load(uninterrupted / f"{NAME}_kernel.npy"), np.load(out / f"{NAME}_kernel.npy"))
    assert (uninterrupted / f"{NAME}_deblurred.png").read_bytes() == (out / f"{NAME}_deblurred.png").read_bytes()


def test_an_image_that_failed_in_a_coarse_stage_stays_failed_and_the_run_goes_on(monkeypatch):
    original = SelfDeblur._loss

    def nan_in_the_first_stage(self, problem, estimate, step, tv_weight):
        loss = original(self, problem, estimate, step, tv_weight)
        return loss * float("nan") if self._stage == 0 and step == 1 else loss

    monkeypatch.setattr(SelfDeblur, "_loss", nan_in_the_first_stage)
    model = two_stage_model(steps=3)
    with pytest.warns(UserWarning, match="became nan at step 1"):
        solver_trainer("cpu", progress=False).fit(
            model, datamodule=SelfDeblurDataModule(synthetic=SyntheticBlur(size=24, kernel_size=5))
        )
    (result,) = model.finished
    assert result.failed and result.status == "failed: the loss became nan at step 1"


def test_stages_need_the_fast_mode_and_increasing_odd_sizes():
    with pytest.raises(ValueError, match="coarse_kernel_sizes must be \\[\\] unless model.fast.enabled is true"):
        FastMode(enabled="auto", max_kernel_size=21, coarse_kernel_sizes=(11,))
    for sizes in [(21,), (13, 11), (10,)]:
        with pytest.raises(ValueError, match="odd integers >= 3, increasing and below model.fast.max_kernel_size"):
            FastMode(enabled=True, max_kernel_size=21, coarse_kernel_sizes=sizes)
