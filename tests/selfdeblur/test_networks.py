"""Shapes, parameter counts and output constraints of G_x and G_k against the reference model."""

from __future__ import annotations

import copy

import pytest
import torch

from deblur_core.crop import center_crop
from selfdeblur.networks import image_generator
from selfdeblur.networks.image_generator import ReflectionPad, SkipGenerator, crop_to
from selfdeblur.networks.kernel_generator import DIPKernelGenerator, FCKernelGenerator, build_kernel_generator
from selfdeblur.networks.non_local import NonLocalBlock


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_image_generator_matches_reference_size_and_shape():
    g = SkipGenerator()
    # The authors' skip(8, 1, [128]*5, [128]*5, [16]*5, non-local at 3 deepest scales) model.
    assert count(g) == 2_365_521
    h, w, k = 255, 255, 17
    z = torch.rand(1, 8, h + k - 1, w + k - 1) * 0.1
    with torch.no_grad():
        out = g(z)
    assert out.shape == (1, 1, h + k - 1, w + k - 1)
    assert out.min() > 0 and out.max() < 1  # sigmoid output


def test_image_generator_handles_odd_sizes_and_layout():
    g = SkipGenerator(down_channels=[8, 8, 8], skip_channels=[2, 0, 2], non_local_scales=2)
    for h, w in [(17, 23), (30, 31), (9, 9)]:
        assert g(torch.rand(1, 8, h, w)).shape == (1, 1, h, w)
    blocks = [m for m in g.modules() if isinstance(m, NonLocalBlock)]
    assert len(blocks) == 2
    reflection = [m for m in g.modules() if isinstance(m, torch.nn.ReflectionPad2d)]
    convs3 = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(reflection) == len(convs3) == 3 * 3  # down, down-second, merge conv per scale


def test_non_local_block_starts_as_identity():
    block = NonLocalBlock(16)
    x = torch.randn(2, 16, 9, 11)
    assert torch.equal(block(x), x)  # zero-initialised output BN
    torch.nn.init.ones_(block.out[1].weight)
    assert not torch.allclose(block(x), x)


def test_kernel_generator_reference_size_and_simplex():
    g = FCKernelGenerator(17)
    assert count(g) == 490_289  # 200*1000+1000 + 1000*289+289
    k = g(torch.rand(200) * 0.1)
    assert k.shape == (17, 17)
    assert (k >= 0).all()
    assert torch.isclose(k.sum(), torch.tensor(1.0), atol=1e-6)


def test_kernel_generator_variants():
    no_hidden = build_kernel_generator("fc", 17, hidden=[])
    assert count(no_hidden) == 200 * 289 + 289
    deeper = build_kernel_generator("fc", 17, hidden=[1000, 1000])
    assert count(deeper) == 201_000 + 1_001_000 + 289_289
    assert isinstance(deeper.net[2], torch.nn.Linear) and isinstance(deeper.net[3], torch.nn.ReLU6)
    dip = build_kernel_generator("dip", 11)
    assert isinstance(dip, DIPKernelGenerator)
    k = dip(torch.rand(dip.input_shape()) * 0.1)
    assert k.shape == (11, 11) and (k >= 0).all() and torch.isclose(k.sum(), torch.tensor(1.0), atol=1e-6)


def test_crop_to_gradient_is_the_slice_gradient():
    torch.manual_seed(0)
    for shape, (h, w) in [((1, 6, 8, 9), (5, 7)), ((2, 3, 6, 6), (6, 5))]:
        x = torch.randn(*shape).to(memory_format=torch.channels_last).requires_grad_()
        g = torch.randn(shape[0], shape[1], h, w).to(memory_format=torch.channels_last)
        ours = crop_to(x, h, w)
        theirs = center_crop(x, h, w)
        assert torch.equal(ours, theirs)
        assert torch.equal(*(torch.autograd.grad(y, x, g)[0] for y in (ours, theirs)))
    x = torch.randn(1, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: crop_to(t, 3, 4), (x,))  # odd margins on both sides
    assert crop_to(x, 6, 7) is x


def gradient_vector(net: torch.nn.Module) -> torch.Tensor:
    """Every parameter's gradient, flattened into one vector."""
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)
    return torch.cat([g.flatten() for g in grads if g is not None])


def stock_generator(g: SkipGenerator, monkeypatch: pytest.MonkeyPatch) -> SkipGenerator:
    """A copy of ``g`` with PyTorch's own ``nn.ReflectionPad2d``, and ``crop_to`` replaced by plain slicing in the
    whole module (so for ``g`` too from then on): G_x as it was before the bfloat16 and gradient-copy changes."""
    stock = copy.deepcopy(g)
    for module in list(stock.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, ReflectionPad):
                setattr(module, name, torch.nn.ReflectionPad2d(child.padding))
    monkeypatch.setattr(image_generator, "crop_to", center_crop)
    return stock


def test_generator_pads_and_crops_keep_bfloat16_and_change_no_value(monkeypatch: pytest.MonkeyPatch):
    torch.manual_seed(0)
    g = SkipGenerator(down_channels=[8, 8, 8], skip_channels=[2, 2, 2], non_local_scales=1)
    pads = [m for m in g.modules() if isinstance(m, ReflectionPad)]
    assert len(pads) == 9
    dtypes: list[torch.dtype] = []
    for pad in pads:
        pad.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    g = g.to(memory_format=torch.channels_last)  # the solver's layout on the CPU
    z = torch.rand(1, 8, 19, 21).to(memory_format=torch.channels_last)  # odd sides: upsampled maps are cropped
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = g(z)
    ours.float().square().mean().backward()
    bf16_gradient = gradient_vector(g)
    # Every pad but the first (which pads the float32 input) hands its convolution a bfloat16 map, where the stock
    # pad under CPU autocast widens it to float32; padding and cropping only move values, so nothing else changes.
    assert dtypes == [torch.float32] + [torch.bfloat16] * 8
    g.zero_grad()
    g(z).square().mean().backward()  # float32: the same computation either way, gradients included
    stock = stock_generator(g, monkeypatch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        theirs = stock(z)
    theirs.float().square().mean().backward()
    # bfloat16 gradients: the border sums of the pads' backward now round in bfloat16, a small change next to
    # bfloat16's own error (which the Levin runs in docs/results/levin.md bound).
    assert (bf16_gradient - gradient_vector(stock)).norm() <= 0.05 * gradient_vector(stock).norm()
    stock.zero_grad()
    stock(z).square().mean().backward()
    assert torch.equal(ours, theirs)
    for a, b in zip(g.parameters(), stock.parameters(), strict=True):
        assert a.grad is not None and b.grad is not None
        assert torch.equal(a.grad, b.grad)
