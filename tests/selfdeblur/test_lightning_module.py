"""The SelfDeblur LightningModule: a short real optimisation, groups, variants, bad numbers."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from deblur_core.blur import to_convolution_kernel
from deblur_core.motion_blur import blur, random_motion_kernel
from selfdeblur import SelfDeblur, SelfDeblurDataModule, SyntheticBlur, deblur
from selfdeblur.api import solver_trainer
from selfdeblur.data.images import scikit_image
from selfdeblur.metrics import aligned_psnr, kernel_distance
from selfdeblur.noise_level import estimate_noise_sigma
from tests.helpers import model_groups


def fit(model: SelfDeblur, data: SelfDeblurDataModule, callbacks=()) -> pl.Trainer:
    trainer = solver_trainer("cpu", callbacks=callbacks)
    trainer.fit(model, datamodule=data)
    return trainer


class LossRecorder(pl.Callback):
    """The summed loss after every step, and with ``per_image`` each image's own."""

    def __init__(self, per_image: bool = False):
        self.losses = []
        self.per_image: dict[str, list[float]] = {} if per_image else None

    def on_train_batch_end(self, trainer, pl_module, *args):
        self.losses.append(float(trainer.callback_metrics["loss"]))
        if self.per_image is not None:
            for problem, _ in pl_module._latest:  # the last step's problems (kept after the group ends)
                self.per_image.setdefault(problem.name, []).append(
                    float(trainer.callback_metrics[f"{problem.name}/loss"])
                )


def test_short_optimisation_recovers_the_kernel():
    """Blur a known image with a known kernel and run a short real optimisation (MSE, then 1 - SSIM,
    as the paper): the loss falls, the kernel estimate ends much closer to the truth than both its
    initial value (nearly uniform) and a centred delta, and the latent image is sharper than the input.

    Small networks need a larger kernel learning rate than the paper's 1e-4 to move in 300 steps.
    """
    spec = SyntheticBlur(size=40, kernel_size=7, kernel_seed=4, scale=0.25)
    truth = spec.make()
    model = SelfDeblur(**model_groups(steps=300, mse_steps=100, milestones=[], lr_kernel=1e-3))
    initial = model.build_problem(truth.name, truth.load(), 7)
    with torch.no_grad():
        initial_kernel = to_convolution_kernel(initial().filter)
    recorder = LossRecorder()
    fit(model, SelfDeblurDataModule(synthetic=spec), [recorder])
    result = model.finished[0]
    losses = recorder.losses
    assert np.mean(losses[90:100]) < 0.1 * np.mean(losses[:10])  # MSE phase
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[100:110])  # 1 - SSIM phase
    true_kernel = truth.load_true_kernel()
    d_est = kernel_distance(result.kernel, true_kernel)
    d_init = kernel_distance(initial_kernel, true_kernel)
    d_delta = kernel_distance(torch.ones(1, 1), true_kernel)
    assert d_est < 0.5 * d_init and d_est < 0.5 * d_delta, (d_est, d_init, d_delta)
    sharp = truth.load_sharp()
    gain = aligned_psnr(result.image, sharp, 3)[0] - aligned_psnr(truth.load(), sharp, 3)[0]
    assert gain > 3.0


def write_images(folder):
    sharp = scikit_image("camera", 64, 0.25)
    specs = {"a": (5, 0, 24), "b": (7, 1, 20)}  # name: (kernel size, kernel seed, size)
    for name, (k, seed, size) in specs.items():
        blurry = blur(sharp[:, : size + k - 1, : size + k - 1], random_motion_kernel(k, seed))
        Image.fromarray((blurry[0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{name}.png")
    return {name: k for name, (k, _, _) in specs.items()}


def test_group_of_images_equals_one_by_one(tmp_path):
    sizes = write_images(tmp_path)
    results = {}
    for per_group in (1, 2):
        model = SelfDeblur(**model_groups(steps=5, mse_steps=3, milestones=[2]))
        fit(model, SelfDeblurDataModule(images=str(tmp_path), kernel_sizes=sizes, images_per_group=per_group))
        results[per_group] = {r.name: r for r in model.finished}
    for name in sizes:
        one, two = results[1][name], results[2][name]
        assert two.group_size == 2 and one.group_size == 1
        torch.testing.assert_close(one.image, two.image, rtol=0, atol=1e-6)
        torch.testing.assert_close(one.kernel, two.kernel, rtol=0, atol=1e-7)
        assert one.final_loss == pytest.approx(two.final_loss, rel=1e-6)


def test_same_seed_same_result_other_seed_other_result():
    spec = SyntheticBlur(size=24, kernel_size=5)
    runs = [deblur(spec, progress=False, accelerator="cpu", **model_groups(steps=3, seed=s)) for s in (0, 0, 1)]
    assert torch.equal(runs[0].image, runs[1].image)
    assert not torch.equal(runs[0].image, runs[2].image)


def test_alternating_variant_lowers_the_loss():
    spec = SyntheticBlur(size=24, kernel_size=5)
    recorder = LossRecorder()
    model = SelfDeblur(**model_groups(steps=40, mse_steps=40, mode="alternating"))
    trainer = fit(model, SelfDeblurDataModule(synthetic=spec), [recorder])
    assert len(model.optimizers()) == 2
    assert np.mean(recorder.losses[-5:]) < 0.5 * np.mean(recorder.losses[:5])
    assert trainer.global_step == 2 * 40  # Lightning counts each optimiser step


def test_kernel_generator_variants_solve():
    spec = SyntheticBlur(size=24, kernel_size=5)
    for options in ({"kernel_generator": "dip"}, {"kernel_hidden": []}, {"kernel_hidden": [16, 16]}):
        result = deblur(spec, progress=False, accelerator="cpu", **model_groups(steps=2, **options))
        assert result.kernel.shape == (5, 5) and torch.isclose(result.kernel.sum(), torch.tensor(1.0))


def test_tv_weight_follows_noise_level():
    blurry = SyntheticBlur(size=32, kernel_size=5, noise_sigma=0.03).make().load()
    model = SelfDeblur(**model_groups(weight="auto", gain=50.0, noise_sigma=0.02))
    problem = model.build_problem("x", blurry, 5)
    assert model.tv_weight_for(problem) == pytest.approx(50 * 0.02**2)
    estimated = SelfDeblur(**model_groups(weight="auto", gain=50.0))
    sigma = float(estimate_noise_sigma(blurry[0]))
    assert sigma == pytest.approx(0.03, rel=0.25)
    assert estimated.tv_weight_for(problem) == pytest.approx(50 * sigma**2, rel=1e-5)
    assert SelfDeblur(**model_groups(weight=0.3)).tv_weight_for(problem) == 0.3
    result = deblur(
        SyntheticBlur(size=24, kernel_size=5), progress=False, accelerator="cpu", **model_groups(steps=2, weight="auto")
    )
    assert torch.isfinite(result.image).all()


def test_result_is_the_centred_crop_in_convolution_orientation():
    model = SelfDeblur(**model_groups())
    blurry = torch.rand(1, 20, 22)
    problem = model.build_problem("x", blurry, 7)
    with torch.no_grad():
        estimate = problem()
    assert estimate.latent.shape == (1, 1, 26, 28) and estimate.reblurred.shape == (1, 1, 20, 22)
    model._latest = [(problem, estimate)]
    ((_, image, kernel),) = model.snapshot()
    torch.testing.assert_close(image, estimate.latent[0, :, 3:23, 3:25])
    torch.testing.assert_close(kernel, estimate.filter.flip(0, 1))


def test_initialisation_depends_on_seed_and_name_only():
    model = SelfDeblur(**model_groups())
    a = model.build_problem("img", torch.rand(1, 16, 16), 5)
    b = model.build_problem("img", torch.rand(1, 16, 16), 5)
    c = model.build_problem("other", torch.rand(1, 16, 16), 5)
    assert torch.equal(a.image_input, b.image_input) and not torch.equal(a.image_input, c.image_input)
    assert float(a.image_input.min()) >= 0 and float(a.image_input.max()) < 0.1
    assert float(a.kernel_input.min()) >= 0 and float(a.kernel_input.max()) < 0.1
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_nan_loss_is_reported_with_the_image_name(monkeypatch):
    original = SelfDeblur._loss

    def nan_loss(self, problem, estimate, step, tv_weight):
        loss = original(self, problem, estimate, step, tv_weight)
        return loss * float("nan") if step == 1 else loss

    monkeypatch.setattr(SelfDeblur, "_loss", nan_loss)
    model = SelfDeblur(**model_groups(steps=3))
    with pytest.warns(UserWarning, match="loss of image 'camera_k5_seed0' became nan at step 1"):
        fit(model, SelfDeblurDataModule(synthetic=SyntheticBlur(size=24, kernel_size=5)))
    (result,) = model.finished
    assert result.failed and result.status == "failed: the loss became nan at step 1"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"steps": 0}, "model.optimization.steps"),
        ({"steps": -5}, "model.optimization.steps"),
        ({"lr_image": 0}, "model.optimization.lr_image"),
        ({"mode": "both"}, "model.optimization.mode"),
        ({"weight": -1.0}, "model.tv.weight"),
        ({"image_channels": [8, 8], "skip_channels": [4], "non_local_scales": 1}, "model.generators.skip_channels"),
        ({"blur_method": "fast"}, "model.compute.blur_method"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        SelfDeblur(**model_groups(**options))


def test_too_small_for_the_generator_is_refused_before_any_work(tmp_path):
    Image.fromarray(np.zeros((24, 26), dtype=np.uint8)).save(tmp_path / "small.png")
    model = SelfDeblur(**model_groups(tiny=False, steps=2))  # 5 scales: image + kernel - 1 must be >= 33
    with pytest.raises(ValueError, match=r"small.png.*at least 33"):
        fit(model, SelfDeblurDataModule(images=str(tmp_path), kernel_size=5))
    assert model.finished == [] and not model.problems


def test_true_precisions_reach_the_generators_built_per_group():
    # The generators are built when a group starts, after Lightning converted the module: "64-true" must still
    # run them in float64 (it silently ran float32 before).
    dtypes = []

    class Dtype(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            if len(pl_module.problems):  # the group's last step hands its problems over as results
                dtypes.append((trainer.precision, frozenset(p.dtype for p in pl_module.problems.parameters())))

    results = {}
    for precision in ("32-true", "64-true"):
        model = SelfDeblur(**model_groups(steps=3))
        solver_trainer("cpu", precision, callbacks=[Dtype()]).fit(
            model, datamodule=SelfDeblurDataModule(synthetic=SyntheticBlur(size=24, kernel_size=5))
        )
        results[precision] = model.finished[0]
    assert set(dtypes) == {("32-true", frozenset({torch.float32})), ("64-true", frozenset({torch.float64}))}
    # Close, not equal: some BatchNorm-weight gradients of G_x are ill-conditioned in float32 (1-3% off float64),
    # and Adam carries that into the parameters within a few steps (0.8% on the loss here).
    assert results["64-true"].final_loss == pytest.approx(results["32-true"].final_loss, rel=0.05)
    assert results["64-true"].image.dtype == torch.float32  # results are stored as float32 images either way
