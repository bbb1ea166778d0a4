"""Test-time adaptation with the self-reblurring loss: trained weights untouched, exact K=0, the loss goes down."""

from __future__ import annotations

import inspect

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from reblur.adaptation import TestTimeAdaptation, adapt, adapted_parameters
from reblur.lightning_module import ReblurTraining
from reblur.losses import self_reblurring_loss
from reblur.networks import UNet
from reblur.options import Evaluation


def box_blur(size: int = 5, amplify: float = 2.0) -> nn.Conv2d:
    """A fixed M_R that amplifies blur: ``x + amplify * (box(x) - x)``, per channel, ``size x size`` box.

    Why amplified: with the stop-gradient, a step on the self-reblurring loss moves ``M_D(B)`` along
    ``-(I + A)^T s`` (``A = M_R - I``, ``s`` the sign of the residual), which lowers the loss to first
    order only where ``A`` amplifies, ``|eigenvalue of A| > 1``; a plain box blur (``amplify=1``)
    would have the adaptation sharpen the image and *raise* the loss, as a trained M_R does not.
    """
    blur = nn.Conv2d(3, 3, size, padding=size // 2, groups=3, bias=False, padding_mode="replicate")
    with torch.no_grad():
        blur.weight.fill_(amplify / size**2)
        blur.weight[:, :, size // 2, size // 2] += 1 - amplify
    return blur


def normed_net() -> nn.Sequential:
    """A tiny M_D with a normalisation layer, for ``params="norm_bias"``."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))


def images(n: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=generator)


class Pairs(Dataset):
    def __init__(self, n: int = 2) -> None:
        self.blurry, self.sharp = images(n, 0), images(n, 1)

    def __len__(self) -> int:
        return len(self.blurry)

    def __getitem__(self, i: int) -> dict:
        return {"blurry": self.blurry[i], "sharp": self.sharp[i], "name": f"im{i}"}


def module() -> ReblurTraining:
    torch.manual_seed(0)
    return ReblurTraining(UNet(channels=(8, 16)), box_blur(), evaluation=Evaluation(metrics=("psnr",)))


def run(stage: str, model: ReblurTraining, tta: TestTimeAdaptation | None, batch_size: int = 2, **options):
    settings = {
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        **options,
    }
    trainer = pl.Trainer(callbacks=[tta] if tta else [], **settings)
    loader = DataLoader(Pairs(), batch_size=batch_size)
    if stage == "test":
        return trainer.test(model, loader, verbose=False)
    return torch.cat([prediction["deblurred"] for prediction in trainer.predict(model, loader)])


def snapshot(net: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in net.state_dict().items()}


def test_trained_networks_and_flags_are_unchanged_after_test():
    model = module()
    deblur, reblur = model.deblur_net, model.reblur_net
    before_d, before_r = snapshot(deblur), snapshot(reblur)
    flags = [p.requires_grad for p in reblur.parameters()]
    tta = TestTimeAdaptation(steps=3, lr=1e-3, csv_name=None)
    run("test", model, tta)
    assert model.deblur_net is deblur and model.reblur_net is reblur
    assert all(torch.equal(before_d[k], v) for k, v in deblur.state_dict().items())
    assert all(torch.equal(before_r[k], v) for k, v in reblur.state_dict().items())
    assert [p.requires_grad for p in reblur.parameters()] == flags
    assert all(p.grad is None for p in [*deblur.parameters(), *reblur.parameters()])


def test_zero_steps_is_exactly_no_adaptation():
    plain = run("predict", module(), None)
    tta = TestTimeAdaptation(steps=0, csv_name=None)
    adapted = run("predict", module(), tta)
    assert torch.equal(plain, adapted)
    assert len(tta.records) == 2
    assert all(r["loss_before"] == r["loss_after"] for r in tta.records)


@pytest.mark.parametrize("inference_mode", [True, False])
def test_adaptation_lowers_the_self_reblurring_loss_in_test(inference_mode):
    tta = TestTimeAdaptation(steps=5, lr=1e-3, csv_name="tta.csv")
    (results,) = run("test", module(), tta, inference_mode=inference_mode)
    assert [r["name"] for r in tta.records] == ["im0", "im1"]
    assert all(r["loss_after"] < r["loss_before"] and r["seconds"] > 0 for r in tta.records)
    assert results["test/tta_loss_after"] < results["test/tta_loss_before"]
    assert results["test/tta_seconds_per_image"] > 0
    with open("tta.csv") as file:  # the test runs in its own tmp folder, which is trainer.log_dir
        assert file.readline().strip() == "name,loss_before,loss_after,seconds"


def test_inference_mode_on_and_off_give_the_same_outputs():
    outputs = [
        run("predict", module(), TestTimeAdaptation(steps=2, lr=1e-3, csv_name=None), inference_mode=mode)
        for mode in (True, False)
    ]
    plain = run("predict", module(), None)
    assert torch.allclose(outputs[0], outputs[1], atol=1e-6)
    assert not torch.allclose(outputs[0], plain, atol=1e-4)


def test_norm_bias_changes_only_normalisation_and_biases():
    net = normed_net()
    result = adapt(net, box_blur(), images(1), steps=3, lr=1e-2, params="norm_bias")
    trained, adapted = dict(net.named_parameters()), dict(result.net.named_parameters())
    assert set(adapted_parameters(net, "norm_bias")) == {"0.bias", "1.weight", "1.bias", "3.bias"}
    for name in ("0.weight", "3.weight"):
        assert torch.equal(trained[name], adapted[name])
    for name in ("0.bias", "1.weight", "1.bias", "3.bias"):
        assert not torch.equal(trained[name], adapted[name])
    assert result.loss_after < result.loss_before


def test_proximity_weight_keeps_the_output_near_the_unadapted_one():
    net, reblur, blurry = normed_net(), box_blur(), images(1)
    with torch.no_grad():
        unadapted = net(blurry)
    drift = {
        weight: (adapt(net, reblur, blurry, steps=10, lr=1e-2, proximity_weight=weight).output - unadapted).abs().mean()
        for weight in (0.0, 10.0)
    }
    assert drift[10.0] < 0.5 * drift[0.0]


def test_per_image_equals_each_image_alone_and_differs_from_per_batch():
    options = {"steps": 3, "lr": 1e-3, "csv_name": None}
    together = run("predict", module(), TestTimeAdaptation(per="image", **options), batch_size=2)
    alone = run("predict", module(), TestTimeAdaptation(per="image", **options), batch_size=1)
    batch = run("predict", module(), TestTimeAdaptation(per="batch", **options), batch_size=2)
    assert torch.allclose(together, alone, atol=1e-6)
    assert not torch.allclose(together, batch, atol=1e-5)


def test_stand_in_runs_the_per_image_networks_on_other_inputs():
    # What the module sees during a batch: the precomputed output for the batch itself, the adapted
    # per-image networks for anything else (e.g. a module that also deblurs the sharp image).
    model, seen = module(), {}

    class Probe(pl.Callback):
        def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            blurry = batch["blurry"]
            seen["cached"] = pl_module.deblur_net(blurry)
            seen["recomputed"] = pl_module.deblur_net(blurry.clone())

    tta = TestTimeAdaptation(steps=2, lr=1e-3, csv_name=None)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, callbacks=[Probe(), tta])
    trainer.predict(model, DataLoader(Pairs(), batch_size=2))
    assert torch.allclose(seen["cached"], seen["recomputed"], atol=1e-6)


def test_stage_selection_and_helpers():
    plain = run("predict", module(), None)
    test_only = run("predict", module(), TestTimeAdaptation(steps=3, lr=1e-3, stages=["test"], csv_name=None))
    assert torch.equal(plain, test_only)
    net, blurry = normed_net(), images(2)
    with torch.no_grad():
        per_image = self_reblurring_loss(box_blur(), net(blurry), "none")
    assert per_image.shape == (2,)


def test_clear_errors():
    with pytest.raises(ValueError, match="params"):
        TestTimeAdaptation(params="weights")
    with pytest.raises(ValueError, match="stages"):
        TestTimeAdaptation(stages=["fit"])
    with pytest.raises(ValueError, match="selects no parameter"):
        adapt(nn.Conv2d(3, 3, 3, bias=False), box_blur(), images(1), steps=1, params="norm_bias")
    l1_only = ReblurTraining(UNet(channels=(8, 16)), None, evaluation=Evaluation(metrics=("psnr",)))
    with pytest.raises(ValueError, match="reblur_net: null"):
        run("predict", l1_only, TestTimeAdaptation(csv_name=None))


def test_trained_network_is_put_back_after_an_exception():
    class Failure(pl.Callback):
        def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            assert pl_module.deblur_net is not trained  # the stand-in is in place
            raise RuntimeError("boom")

    model = module()
    trained = model.deblur_net
    tta = TestTimeAdaptation(steps=1, lr=1e-3, csv_name=None)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, callbacks=[tta, Failure()])
    with pytest.raises(RuntimeError, match="boom"):
        trainer.predict(model, DataLoader(Pairs(), batch_size=2))
    assert model.deblur_net is trained


def test_the_callbacks_defaults_are_those_of_adapt():
    callback, function = (inspect.signature(f).parameters for f in (TestTimeAdaptation.__init__, adapt))
    for name in ("steps", "lr", "params", "proximity_weight", "crop", "reblur_lr"):
        assert callback[name].default == function[name].default, name


def test_crop_adapts_on_the_most_detailed_window_and_deblurs_the_whole_image():
    from reblur.adaptation.algorithm import detailed_window

    images = torch.zeros(1, 3, 40, 48)
    checkerboard = (torch.arange(8).view(-1, 1) + torch.arange(8)) % 2
    images[..., 20:28, 28:36] = checkerboard.float()
    # On the half-window grid (tops 0, 8, .., 24; lefts 0, 8, .., 32) only [16:32, 24:40] holds all of it.
    window = detailed_window(images, 16)
    assert torch.equal(window, images[..., 16:32, 24:40])
    assert detailed_window(images, 64) is images

    torch.manual_seed(0)
    net = normed_net()
    seen: list[tuple[int, ...]] = []
    net.register_forward_hook(lambda module, inputs, output: seen.append(tuple(inputs[0].shape)))
    result = adapt(net, box_blur(), images, steps=2, lr=1e-3, crop=16)
    # two steps on the window, then the whole image
    assert seen == [(1, 3, 16, 16), (1, 3, 16, 16), (1, 3, 40, 48)]
    seen.clear()
    assert result.output.shape == images.shape
    on_window = adapt(net, box_blur(), window.clone(), steps=2, lr=1e-3)
    for adapted, reference in zip(result.net.parameters(), on_window.net.parameters()):
        assert torch.allclose(adapted, reference)
    with pytest.raises(ValueError, match="crop"):
        adapt(net, box_blur(), images, steps=1, crop=0)


def test_reblur_lr_adapts_a_copy_of_m_r_after_each_m_d_step():
    net, reblur, blurry = normed_net(), box_blur(), images(1)
    before, flags = snapshot(reblur), [p.requires_grad for p in reblur.parameters()]
    # M_R moves only after M_D's step, so one step is the frozen-M_R adaptation, bit for bit.
    frozen, moving = (adapt(net, reblur, blurry, steps=1, lr=1e-2, reblur_lr=lr) for lr in (0.0, 1e-2))
    assert torch.equal(frozen.output, moving.output)
    # From the second step on, M_D is judged by the adapted M_R and ends elsewhere.
    frozen, moving = (adapt(net, reblur, blurry, steps=3, lr=1e-2, reblur_lr=lr) for lr in (0.0, 1e-2))
    assert not torch.allclose(frozen.output, moving.output)
    # The reported losses are the given M_R's: the unadapted output scores the same either way.
    assert torch.equal(frozen.loss_before, moving.loss_before)
    assert all(torch.equal(before[k], v) for k, v in reblur.state_dict().items())
    assert [p.requires_grad for p in reblur.parameters()] == flags and all(p.grad is None for p in reblur.parameters())
    with pytest.raises(ValueError, match="reblur_lr"):
        adapt(net, reblur, blurry, steps=1, reblur_lr=-1.0)
    with pytest.raises(ValueError, match="reblur_lr"):
        TestTimeAdaptation(reblur_lr=-1.0)
