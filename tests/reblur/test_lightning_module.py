"""The reblurring training logic: where gradients go, how steps are counted, schedules, clipping, learning."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from reblur.data import SyntheticPairsDataModule
from reblur.lightning_module import ReblurTraining
from reblur.losses import reblurring_module_losses
from reblur.networks import ReblurringModule, UNet
from reblur.options import DeblurLoss, Evaluation, NetworkUpdates


def tiny_data(**options) -> SyntheticPairsDataModule:
    settings = {
        "images": ["camera", "coins", "astronaut"],
        "image_size": 32,
        "kernel_size": 5,
        "pairs_per_image": 2,
        "val_images": 1,
        "crop_size": 16,
        "batch_size": 2,
        "num_workers": 0,
        "persistent_workers": False,
    }
    return SyntheticPairsDataModule(**{**settings, **options})


def tiny_module(
    reblur: bool = True,
    lr: float = 1e-3,
    deblur: dict | None = None,
    reblur_updates: dict | None = None,
    metrics: tuple[str, ...] = ("psnr",),
    evaluation: Evaluation | None = None,
    **options,
) -> ReblurTraining:
    """A small U-Net (and M_R); ``deblur`` / ``reblur_updates``: fields of the networks' NetworkUpdates."""
    torch.manual_seed(0)
    adam = {"optimizer": lambda p: torch.optim.Adam(p, lr=lr)}
    reblur_net = ReblurringModule(1, channels=8, kernel_size=3) if reblur else None
    return ReblurTraining(
        UNet(channels=(8, 16)),
        reblur_net,
        deblur_updates=NetworkUpdates(**{**adam, **(deblur or {})}),
        reblur_updates=NetworkUpdates(**{**adam, **(reblur_updates or {})}),
        evaluation=evaluation or Evaluation(metrics=metrics),
        **options,
    )


def fit(module, data=None, callbacks=(), **trainer_options) -> pl.Trainer:
    options = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "limit_val_batches": 0,
        **trainer_options,
    }
    trainer = pl.Trainer(callbacks=list(callbacks), **options)
    trainer.fit(module, datamodule=data or tiny_data())
    return trainer


def grads(net):
    return [None if p.grad is None else p.grad.clone() for p in net.parameters()]


class GradientWitness(Callback):
    """Records both networks' gradients each time an optimizer is about to step."""

    def __init__(self) -> None:
        self.events = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        which = "D" if optimizer is trainer.optimizers[0] else "R"
        self.events.append((which, grads(pl_module.deblur_net), grads(pl_module.reblur_net)))


def same(a, b):
    return all(
        (x is None and y is None) or (x is not None and y is not None and torch.equal(x, y)) for x, y in zip(a, b)
    )


def test_each_step_changes_only_its_own_network_gradients():
    witness = GradientWitness()
    module = tiny_module()
    fit(module, callbacks=[witness], max_steps=2)
    assert [e[0] for e in witness.events] == ["R", "D", "R", "D"]
    (_, d_at_r1, r_at_r1), (_, d_at_d1, r_at_d1), (_, d_at_r2, _), _ = witness.events
    # M_R step: M_D has no gradient at all yet; M_R has one.
    assert all(g is None for g in d_at_r1)
    assert all(g is not None for g in r_at_r1) and any(g.abs().sum() > 0 for g in r_at_r1)
    # M_D step: M_R's gradients are exactly what its own step left (frozen, nothing accumulated).
    assert same(r_at_d1, r_at_r1)
    assert all(g is not None for g in d_at_d1) and any(g.abs().sum() > 0 for g in d_at_d1)
    # Next M_R step: M_D's gradients untouched by M_R's backward pass.
    assert same(d_at_r2, d_at_d1)
    assert all(p.requires_grad for p in module.parameters())  # the freeze is undone after the step


class BatchCounter(Callback):
    def __init__(self) -> None:
        self.batches = 0

    def on_train_batch_end(self, *args) -> None:
        self.batches += 1


@pytest.mark.parametrize(
    ("reblur", "counts", "max_steps", "steps", "iterations"),
    [(True, "iterations", 3, 6, 3), (False, "iterations", 3, 3, 3), (True, "optimizer_steps", 4, 4, 2)],
)
def test_max_steps_counts_iterations_by_default(reblur, counts, max_steps, steps, iterations):
    counter = BatchCounter()
    module = tiny_module(reblur, max_steps_counts=counts)
    trainer = fit(module, callbacks=[counter], max_steps=max_steps)
    assert counter.batches == iterations
    assert trainer.global_step == steps  # Lightning counts optimizer steps
    assert module.iteration == iterations


def test_k_steps_per_iteration():
    witness = GradientWitness()
    module = tiny_module(deblur={"steps": 2}, reblur_updates={"steps": 3})
    trainer = fit(module, callbacks=[witness], max_steps=1)
    assert [e[0] for e in witness.events] == ["R", "R", "R", "D", "D"]
    assert trainer.global_step == 5


def test_schedulers_step_once_per_iteration():
    module = tiny_module(
        lr=1e-3,
        deblur={"scheduler": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)},
        reblur_updates={"scheduler": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5)},
    )
    trainer = fit(module, max_steps=5)
    deblur_lr = trainer.optimizers[0].param_groups[0]["lr"]
    reblur_lr = trainer.optimizers[1].param_groups[0]["lr"]
    assert deblur_lr == pytest.approx(1e-3 * 0.5**2)  # 5 iterations, halved every 2
    assert reblur_lr == pytest.approx(1e-3 * 0.5**5)


def test_gradient_clipping_bounds_the_update():
    module = tiny_module(reblur=False, deblur={"optimizer": lambda p: torch.optim.SGD(p, lr=1.0), "grad_clip": 1e-3})
    before = torch.cat([p.detach().flatten().clone() for p in module.deblur_net.parameters()])
    fit(module, max_steps=1)
    after = torch.cat([p.detach().flatten() for p in module.deblur_net.parameters()])
    # SGD with lr 1 moves by exactly the clipped gradient: norm <= 1e-3 (the raw gradient is larger).
    assert (after - before).norm().item() == pytest.approx(1e-3, rel=1e-3)


def test_training_lowers_the_blur_loss_of_the_reblurring_module():
    data = tiny_data()
    data.setup("fit")
    batch = next(iter(data.val_dataloader()))
    module = tiny_module(lr=2e-3)

    def blur_loss():
        with torch.no_grad():
            deblurred = module.deblur_net(batch["blurry"])
            return reblurring_module_losses(module.reblur_net, deblurred, batch["blurry"], deblurred)["blur"].item()

    before = blur_loss()
    fit(module, data, max_steps=40)
    assert blur_loss() < 0.7 * before


def test_l1_only_baseline_has_one_optimizer_and_learns():
    module = tiny_module(reblur=False)
    data = tiny_data()
    data.setup("fit")
    batch = next(iter(data.val_dataloader()))

    def l1_error():
        with torch.no_grad():
            return (module(batch["blurry"]) - batch["sharp"]).abs().mean().item()

    before = l1_error()
    trainer = fit(module, data, max_steps=30)
    assert len(trainer.optimizers) == 1
    assert l1_error() < 0.8 * before


def test_perceptual_baseline_keeps_vgg_out_of_the_checkpoint(seeded_torch_hub):
    vgg = DeblurLoss(perceptual_weight=0.1, perceptual_arch="vgg16", perceptual_layer="relu2_2")
    module = tiny_module(reblur=False, loss=vgg)
    fit(module, max_steps=1)
    assert all(key.startswith("deblur_net.") for key in module.state_dict())
    batch = {"sharp": torch.rand(1, 3, 16, 16)}
    terms = module.deblur_losses(batch["sharp"] + 0.1, batch["sharp"])
    assert terms["perceptual"] > 0
    assert terms["total"].item() == pytest.approx((terms["l1"] + 0.1 * terms["perceptual"]).item(), rel=1e-6)


def test_bf16_autocast_trains_on_cpu():
    module = tiny_module()
    trainer = fit(module, max_steps=2, precision="bf16-mixed")
    assert trainer.global_step == 4
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_rejects_impossible_options():
    with pytest.raises(ValueError, match="max_steps_counts"):
        tiny_module(max_steps_counts="epochs")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        tiny_module(deblur={"steps": 0})
    with pytest.raises(ValueError, match="model.loss.reblur_weight"):
        DeblurLoss(reblur_weight=-1.0)
    with pytest.raises(ValueError, match="model.evaluation.color"):
        Evaluation(color="ycbcr")


def test_predict_returns_the_clamped_deblurred_test_frames():
    module = tiny_module()
    data = tiny_data()
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    predictions = trainer.predict(module, datamodule=data)
    batches = list(data.predict_dataloader())
    assert len(predictions) == len(batches) == 2  # the held-out image's two pairs, one frame per batch
    for prediction, batch in zip(predictions, batches):
        with torch.no_grad():
            expected = module.deblur_net(batch["blurry"]).clamp(0, 1)
        assert torch.equal(prediction["deblurred"], expected) and prediction["name"] == batch["name"]


def test_niqe_of_the_sharp_targets_is_measured_once_and_reported_with_every_validation():
    from reblur.metrics import niqe

    module = tiny_module(metrics=("psnr", "niqe"))
    data = tiny_data(image_size=96, pairs_per_image=1)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    updates = []
    original_update = module.target_niqe.update
    module.target_niqe.update = lambda images: (updates.append(images.shape[0]), original_update(images))[1]
    first = trainer.validate(module, datamodule=data, verbose=False)[0]
    second = trainer.validate(module, datamodule=data, verbose=False)[0]
    sharp = torch.cat([batch["sharp"] for batch in data.val_dataloader()])
    expected = niqe(sharp).mean().item()
    assert first["val/niqe_target"] == pytest.approx(expected, abs=1e-4)
    assert second["val/niqe_target"] == first["val/niqe_target"]
    assert sum(updates) == len(sharp)  # only the first pass measured the targets
    assert first["val/niqe"] != pytest.approx(first["val/niqe_target"])  # the deblurred images are measured apart


def test_the_inputs_psnr_is_reported_in_the_same_convention_as_the_outputs():
    from reblur.metrics import psnr

    data = tiny_data(image_size=40, pairs_per_image=1)
    module = tiny_module(evaluation=Evaluation(metrics=("psnr",), color="y", crop_border=2))
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    logged = trainer.validate(module, datamodule=data, verbose=False)[0]
    batches = list(data.val_dataloader())
    expected = [psnr(b["blurry"], b["sharp"], color="y", crop_border=2).mean().item() for b in batches]
    assert logged["val/input_psnr"] == pytest.approx(sum(expected) / len(expected), rel=1e-5)
    rgb = [psnr(b["blurry"], b["sharp"]).mean().item() for b in batches]
    assert abs(logged["val/input_psnr"] - sum(rgb) / len(rgb)) > 0.1  # the convention is applied, not ignored


class LoggedTerms(Callback):
    """The M_D objective's terms of each iteration (what ``deblur_losses`` returned)."""

    def __init__(self) -> None:
        self.terms: list[set[str]] = []

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        self.terms.append({k.removeprefix("train/deblur_") for k in trainer.callback_metrics if "deblur_" in k})


def test_the_reblurring_loss_starts_at_reblur_start_while_m_r_trains_from_the_first_iteration():
    module = tiny_module(loss=DeblurLoss(reblur_start=2))
    start = [p.clone() for p in module.reblur_net.parameters()]
    seen = LoggedTerms()
    witness = GradientWitness()
    fit(module, callbacks=[seen, witness], max_steps=3, max_epochs=10)
    assert [("reblur" in terms) for terms in seen.terms] == [False, False, True]
    # M_R stepped in the first iteration already (its gradient was there before the M_D step)
    assert witness.events[0][0] == "R" and any(g is not None and g.abs().sum() > 0 for g in witness.events[0][2])
    assert not all(torch.equal(a, b) for a, b in zip(start, module.reblur_net.parameters()))


def test_validation_logs_how_far_m_r_moves_each_image_toward_the_blurry_input():
    from reblur.reblur_response import reblur_response

    data = tiny_data(image_size=40, pairs_per_image=1)
    module = tiny_module()
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    logged = trainer.validate(module, datamodule=data, verbose=False)[0]
    batches = list(data.val_dataloader())
    with torch.no_grad():
        for kind in ("deblurred", "sharp"):
            values = []
            for b in batches:
                image = module.deblur_net(b["blurry"]) if kind == "deblurred" else b["sharp"]
                values.append(reblur_response(module.reblur_net, image, b["blurry"])["toward_blurry"].mean().item())
            assert logged[f"val/reblur_toward_blurry_{kind}"] == pytest.approx(sum(values) / len(values), rel=1e-4)
        moves = [(module.reblur_net(b["blurry"]) - b["blurry"]).abs().mean().item() for b in batches]
    assert logged["val/reblur_move_blurry"] == pytest.approx(sum(moves) / len(moves), rel=1e-4)
    assert {"val/reblur_move_deblurred", "val/reblur_move_sharp"} <= set(logged)
