"""Reblurring losses on hand-made tensors, and where their gradients go."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reblur.losses import VGGPerceptualLoss, l1, reblurring_loss, reblurring_module_losses, self_reblurring_loss


class Scale(nn.Module):
    """M_R stand-in with one weight: M_R(x) = w * x."""

    def __init__(self, w: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return self.w * x


def test_reblurring_module_losses_match_hand_computation():
    blurry = torch.tensor([0.2, 0.4, 0.6, 0.8]).view(1, 1, 2, 2)
    deblurred = torch.tensor([0.1, 0.5, 0.5, 1.0]).view(1, 1, 2, 2)
    pseudo = torch.tensor([0.0, 0.2, 0.4, 0.6]).view(1, 1, 2, 2)
    losses = reblurring_module_losses(Scale(2.0), deblurred, blurry, pseudo)
    # L_Blur = mean |2 d - b| = (0 + 0.6 + 0.4 + 1.2) / 4; L_Sharp = mean |2 p - p| = mean p.
    assert losses["blur"].item() == pytest.approx(0.55)
    assert losses["sharp"].item() == pytest.approx(0.3)
    assert losses["total"].item() == pytest.approx(0.85)


def test_reblurring_module_losses_train_only_the_reblurring_module():
    net = Scale(1.5)
    deblurred = torch.rand(2, 3, 4, 4, requires_grad=True)
    pseudo = torch.rand(2, 3, 4, 4, requires_grad=True)
    reblurring_module_losses(net, deblurred, torch.rand(2, 3, 4, 4), pseudo)["total"].backward()
    assert deblurred.grad is None and pseudo.grad is None
    assert net.w.grad is not None and net.w.grad != 0


def test_reblurring_loss_value_and_gradient_goes_to_the_deblurred_image_only():
    net = Scale(2.0).requires_grad_(False)  # frozen as in the M_D step
    deblurred = torch.tensor([0.5, 0.5]).view(1, 1, 1, 2).requires_grad_()
    sharp = torch.tensor([0.25, 1.0]).view(1, 1, 1, 2).requires_grad_()
    loss = reblurring_loss(net, deblurred, sharp)
    assert loss.item() == pytest.approx((abs(1.0 - 0.5) + abs(1.0 - 2.0)) / 2)
    loss.backward()
    # d/dd mean|2d - 2s| = 2 sign(d - s) / n
    assert deblurred.grad.flatten().tolist() == pytest.approx([1.0, -1.0])
    assert sharp.grad is None and net.w.grad is None


def test_self_reblurring_loss_is_zero_for_an_image_the_module_leaves_alone():
    x = torch.rand(1, 3, 5, 5)
    assert self_reblurring_loss(nn.Identity(), x).item() == 0
    assert self_reblurring_loss(Scale(0.5), x).item() == pytest.approx(0.5 * x.mean().item())
    assert l1(x, x + 0.25).item() == pytest.approx(0.25)


def test_vgg_loss_is_zero_on_equal_images_and_trains_only_the_prediction():
    torch.manual_seed(0)
    loss = VGGPerceptualLoss("vgg16", "relu2_2", pretrained=False)
    x = torch.rand(1, 3, 16, 16)
    assert loss(x, x).item() == 0
    prediction = torch.rand(1, 3, 16, 16, requires_grad=True)
    value = loss(prediction, x)
    value.backward()
    assert value.item() > 0 and prediction.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())
    assert not loss.train().features.training  # the feature extractor stays in eval mode


def test_vgg_loss_rejects_unknown_layers():
    with pytest.raises(ValueError, match="relu5_4"):
        VGGPerceptualLoss("vgg16", "relu5_4", pretrained=False)


@pytest.mark.reference
def test_vgg_loss_loads_the_imagenet_weights_from_the_hub_cache(seeded_torch_hub):
    import torchvision

    loss = VGGPerceptualLoss("vgg16", "relu1_2")
    reference = torchvision.models.vgg16()
    state = torch.load(seeded_torch_hub / "hub" / "checkpoints" / "vgg16-397923af.pth")
    reference.load_state_dict(state)
    assert torch.equal(loss.features[0].weight, reference.features[0].weight)
