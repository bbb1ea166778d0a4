"""The reblur networks: padding, shapes, residuals, SRN's shared weights and ConvLSTM, M_R's size, DHN's patches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from jsonargparse import ArgumentParser
from torch import nn

from reblur.networks import DHN, SRN, ConvLSTMCell, ReblurringModule, UNet, crop_to_size, pad_to_multiple
from reblur.networks.srn import upsample2x_bilinear


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def tiny_unet(**options) -> UNet:
    return UNet(channels=(4, 8, 8), **options)


def tiny_srn(**options) -> SRN:
    options = {"channels": (4, 8), "blocks_per_stage": 1, "kernel_size": 3, **options}
    return SRN(**options)


def tiny_dhn(**options) -> DHN:
    return DHN(channels=(4, 8, 8), blocks_per_stage=1, **options)


DEBLURRING_NETS = {"unet": tiny_unet, "srn": tiny_srn, "dhn": tiny_dhn}


def last_conv(net: nn.Module) -> nn.Conv2d:
    """The convolution that produces the residual added to the input."""
    return net.decoders[-1].output_conv if isinstance(net, DHN) else net.output_conv


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --- padding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "multiple", "padded"),
    [(37, 53, 8, (40, 56)), (32, 48, 16, (32, 48)), (1, 1, 16, (16, 16)), (17, 9, 4, (20, 12)), (5, 7, 1, (5, 7))],
)
def test_padding_reaches_the_next_multiple_and_crops_back_exactly(height, width, multiple, padded):
    images = torch.rand(2, 3, height, width)
    out = pad_to_multiple(images, multiple)
    assert out.shape == (2, 3, *padded)
    assert torch.equal(crop_to_size(out, height, width), images)
    # Replicate: every padded row/column repeats the last original one.
    assert torch.equal(out[:, :, height:, :width], images[:, :, -1:, :].expand(-1, -1, padded[0] - height, -1))
    assert torch.equal(out[:, :, :height, width:], images[:, :, :, -1:].expand(-1, -1, -1, padded[1] - width))


def test_reflect_padding_mirrors_without_repeating_the_edge():
    images = torch.rand(1, 2, 37, 53)
    out = pad_to_multiple(images, 8, "reflect")
    assert out.shape == (1, 2, 40, 56)
    assert torch.equal(crop_to_size(out, 37, 53), images)
    assert torch.equal(out[:, :, 37:40, :53], images[:, :, [35, 34, 33], :])
    assert torch.equal(out[:, :, :37, 53:56], images[:, :, :, [51, 50, 49]])
    with pytest.raises(ValueError, match="reflect"):
        pad_to_multiple(torch.rand(1, 1, 3, 3), 8, "reflect")


def test_padding_rejects_unknown_modes():
    with pytest.raises(ValueError, match="padding mode"):
        pad_to_multiple(torch.rand(1, 1, 3, 3), 4, "zeros")
    with pytest.raises(ValueError, match="padding mode"):
        UNet(channels=(4, 8), padding_mode="circular")


# --- every network --------------------------------------------------------------------------------


def test_strides():
    assert UNet().stride == 8
    assert UNet(channels=(8, 16)).stride == 2
    assert SRN().stride == 16  # 2 halvings in the encoder x 2 scales below the finest
    assert SRN(scales=1).stride == 4
    assert SRN(channels=(8, 16), scales=4).stride == 16
    assert DHN().stride == 8  # quadrants are half the image, then halved twice
    assert ReblurringModule().stride == 1


def test_default_parameter_counts():
    assert count(UNet()) == 2_700_259
    assert count(SRN()) == 8_061_411  # SRN-DeblurNet's 8.06 M
    assert count(DHN()) == 3 * 1_808_131  # three DMPHN encoder-decoder pairs


@pytest.mark.parametrize("name", DEBLURRING_NETS)
@pytest.mark.parametrize("shape", [(1, 3, 37, 53), (2, 3, 16, 24), (1, 3, 5, 3)])
def test_output_has_the_input_shape_for_any_size(name, shape):
    net = DEBLURRING_NETS[name]()
    with torch.no_grad():
        assert net(torch.rand(shape)).shape == shape


@pytest.mark.parametrize("name", DEBLURRING_NETS)
def test_reflect_padding_mode_works_in_the_networks(name):
    net = DEBLURRING_NETS[name](padding_mode="reflect")
    with torch.no_grad():
        assert net(torch.rand(1, 3, 37, 53)).shape == (1, 3, 37, 53)


@pytest.mark.parametrize("name", [*DEBLURRING_NETS, "reblur"])
def test_zeroed_last_conv_returns_the_input_exactly(name):
    net = ReblurringModule(n_blocks=1, channels=4, kernel_size=3) if name == "reblur" else DEBLURRING_NETS[name]()
    nn.init.zeros_(last_conv(net).weight)
    nn.init.zeros_(last_conv(net).bias)
    images = torch.rand(2, 3, 37, 53)
    with torch.no_grad():
        assert torch.equal(net(images), images)


@pytest.mark.parametrize("name", DEBLURRING_NETS)
def test_without_global_residual_the_zeroed_last_conv_gives_zeros(name):
    net = DEBLURRING_NETS[name](global_residual=False)
    nn.init.zeros_(last_conv(net).weight)
    nn.init.zeros_(last_conv(net).bias)
    with torch.no_grad():
        assert torch.equal(net(torch.rand(1, 3, 37, 53)), torch.zeros(1, 3, 37, 53))


@pytest.mark.parametrize("name", [*DEBLURRING_NETS, "reblur"])
def test_gradients_reach_every_parameter(name):
    """DDP fails on parameters that take no part in the loss; every one must get a non-zero gradient."""
    if name == "srn":
        net = tiny_srn(scales=2)  # the ConvLSTM's hidden-state weights only matter from the second scale
    elif name == "reblur":
        net = ReblurringModule(n_blocks=2, channels=4, kernel_size=3)
    else:
        net = DEBLURRING_NETS[name]()
    net(torch.rand(2, 3, 19, 21)).square().mean().backward()
    for parameter_name, parameter in net.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


def test_unequal_image_channels_need_residual_off():
    with pytest.raises(ValueError, match="in_channels == out_channels"):
        UNet(in_channels=1, out_channels=3)
    net = UNet(in_channels=1, out_channels=3, channels=(4, 8), global_residual=False)
    assert net(torch.rand(1, 1, 9, 9)).shape == (1, 3, 9, 9)


def test_built_from_yaml_like_configuration():
    """LightningCLI builds the networks from class_path/init_args with plain YAML values (lists, not tuples)."""
    parser = ArgumentParser()
    parser.add_subclass_arguments(nn.Module, "model")
    configurations = {
        "UNet": {"channels": [4, 8]},
        "SRN": {"scales": 2, "channels": [4, 8], "blocks_per_stage": 1, "padding_mode": "reflect"},
        "DHN": {"channels": [4, 8], "blocks_per_stage": 1, "global_residual": False},
        "ReblurringModule": {"n_blocks": 2, "channels": 8, "kernel_size": 3},
    }
    for class_name, init_args in configurations.items():
        config = parser.parse_object({"model": {"class_path": f"reblur.networks.{class_name}", "init_args": init_args}})
        net = parser.instantiate(config).model
        assert type(net).__name__ == class_name
        assert net(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


# --- SRN -----------------------------------------------------------------------------------------


def test_srn_shares_weights_across_scales():
    counts = {scales: count(tiny_srn(scales=scales)) for scales in (1, 2, 3, 4)}
    assert len(set(counts.values())) == 1
    assert tiny_srn(scales=1).state_dict().keys() == tiny_srn(scales=4).state_dict().keys()


def test_srn_returns_every_scale_coarse_to_fine():
    net = tiny_srn()  # stride 2 * 4 = 8
    images = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        estimates = net.forward_scales(images)
        assert [e.shape[-2:] for e in estimates] == [(8, 12), (16, 24), (32, 48)]
        assert torch.equal(estimates[-1], net(images))
        # Odd sizes: each scale covers the original pixels, ceil(H / 2**k).
        odd = net.forward_scales(torch.rand(1, 3, 37, 53))
        assert [e.shape[-2:] for e in odd] == [(10, 14), (19, 27), (37, 53)]
        assert [p.shape[-2:] for p in net.image_pyramid(torch.rand(1, 3, 37, 53))] == [(10, 14), (19, 27), (37, 53)]


def test_srn_zeroed_last_conv_gives_the_blurry_pyramid():
    """With the residual zeroed every scale returns the blurry image at that scale: 2x2 averages of the finer one."""
    net = tiny_srn()
    nn.init.zeros_(net.output_conv.weight)
    nn.init.zeros_(net.output_conv.bias)
    images = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        estimates = net.forward_scales(images)
    pyramid = net.image_pyramid(images)
    for estimate, blurry in zip(estimates, pyramid):
        assert torch.equal(estimate, blurry)
    assert torch.allclose(pyramid[1], F.avg_pool2d(images, 2))
    assert torch.allclose(pyramid[0], F.avg_pool2d(images, 4), atol=1e-6)


def test_srn_scales_are_recurrent():
    """The finest estimate depends on the coarser scales (through the estimate and the ConvLSTM state)."""
    single = tiny_srn(scales=1)
    multi = tiny_srn(scales=3)
    multi.load_state_dict(single.state_dict())
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(single(images), multi(images))


def test_srn_upsampled_estimate_can_be_detached():
    """With detaching, only the ConvLSTM state links the scales; without, the estimate does too."""
    images = torch.rand(1, 3, 16, 16)
    gradients = {}
    for detach in (True, False):
        torch.manual_seed(1)
        net = tiny_srn(scales=2, detach_upsampled_estimate=detach)
        coarse, fine = net.forward_scales(images)
        # Sides are multiples of the stride: the estimates are the tensors the finer scale was computed from.
        (gradient,) = torch.autograd.grad(fine.sum(), coarse, allow_unused=True)
        gradients[detach] = gradient
    assert gradients[True] is None
    assert gradients[False] is not None and gradients[False].abs().sum() > 0


def test_bilinear_upsampling_matches_interpolate():
    features = torch.randn(2, 3, 5, 7)
    expected = F.interpolate(features, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(upsample2x_bilinear(features), expected, atol=1e-6)


def test_conv_lstm_step_matches_the_lstm_equations():
    """One step with 1x1 gate convolutions, set weights and one input and one hidden channel, by hand."""
    cell = ConvLSTMCell(input_channels=1, hidden_channels=1, kernel_size=1)
    # Gate rows in the order i, f, o, g; columns: input, hidden.
    weights = [[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0], [1.0, 0.5]]
    biases = [0.1, -0.2, 0.3, -0.4]
    with torch.no_grad():
        cell.gates.weight.copy_(torch.tensor(weights).reshape(4, 2, 1, 1))
        cell.gates.bias.copy_(torch.tensor(biases))
    x, h, c = 0.8, -0.6, 0.3
    pre = [w_x * x + w_h * h + b for (w_x, w_h), b in zip(weights, biases)]

    def sigmoid(v):
        return 1 / (1 + math.exp(-v))

    i, f, o, g = sigmoid(pre[0]), sigmoid(pre[1]), sigmoid(pre[2]), math.tanh(pre[3])
    c_new = f * c + i * g
    h_new = o * math.tanh(c_new)

    def pixel(value):
        return torch.full((1, 1, 1, 1), value)

    hidden, cell_state = cell(pixel(x), (pixel(h), pixel(c)))
    assert hidden.item() == pytest.approx(h_new, abs=1e-6)
    assert cell_state.item() == pytest.approx(c_new, abs=1e-6)


def test_conv_lstm_default_state_is_zero_and_forget_bias_is_one():
    cell = ConvLSTMCell(input_channels=2, hidden_channels=3, kernel_size=3)
    assert torch.equal(cell.gates.bias[3:6], torch.ones(3))  # forget-gate bias 1
    inputs = torch.randn(1, 2, 4, 5)
    zeros = torch.zeros(1, 3, 4, 5)
    assert all(torch.equal(a, b) for a, b in zip(cell(inputs), cell(inputs, (zeros, zeros))))


# --- ReblurringModule -------------------------------------------------------------------------------


@pytest.mark.parametrize("n_blocks", [0, 1, 2])
@pytest.mark.parametrize(("channels", "kernel_size"), [(64, 5), (16, 3)])
def test_reblurring_module_parameter_count(n_blocks, channels, kernel_size):
    image_channels, k2 = 3, kernel_size**2
    head = image_channels * channels * k2 + channels
    block = 2 * (channels * channels * k2 + channels)
    tail = channels * image_channels * k2 + image_channels
    assert count(ReblurringModule(n_blocks, channels, kernel_size)) == head + n_blocks * block + tail


def test_reblurring_module_paper_sizes():
    assert count(ReblurringModule(n_blocks=1)) == 214_595  # "n1"
    assert count(ReblurringModule(n_blocks=2)) == 419_523  # "n2"
    assert ReblurringModule(n_blocks=1)(torch.rand(1, 3, 11, 13)).shape == (1, 3, 11, 13)


# --- DHN -----------------------------------------------------------------------------------------


def test_dhn_patch_levels_see_their_patches_only():
    """Changing the top-left quadrant leaves the 4-patch features of the other quadrants and the
    2-patch features of the bottom half exactly unchanged; the 1-patch level sees the whole image."""
    net = tiny_dhn()  # stride 8, features at 1/4 of the image
    images = torch.rand(1, 3, 32, 48)
    changed = images.clone()
    changed[:, :, :16, :24] = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        before = net.level_features(images)
        after = net.level_features(changed)
    assert [f.shape for f in before] == [(1, 8, 8, 12)] * 3
    four, two, one = (torch.stack(pair) for pair in zip(before, after))

    def same(features, rows, columns):
        return torch.equal(features[0][..., rows, columns], features[1][..., rows, columns])

    top, bottom, left, right = slice(0, 4), slice(4, 8), slice(0, 6), slice(6, 12)
    assert not same(four, top, left)
    assert same(four, top, right) and same(four, bottom, left) and same(four, bottom, right)
    assert not same(two, top, right)  # the top half is one patch at this level
    assert same(two, bottom, slice(None))
    assert not same(one, bottom, right)  # one patch: the change can reach everywhere


def test_dhn_batches_patches_like_separate_calls():
    """Stacking the quadrants along the batch gives the same features as encoding each quadrant alone."""
    net = tiny_dhn()
    images = torch.rand(2, 3, 16, 24)
    with torch.no_grad():
        four_patch = net.level_features(images)[0]
        encoder = net.encoders[0]
        rows = [
            torch.cat([encoder(images[:, :, r, c]) for c in (slice(0, 12), slice(12, 24))], dim=3)
            for r in (slice(0, 8), slice(8, 16))
        ]
    assert torch.allclose(four_patch, torch.cat(rows, dim=2), atol=1e-6)
