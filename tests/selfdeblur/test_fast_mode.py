"""The fast mode: the reduced problem (selfdeblur.reduced_problem), the full-resolution deconvolution
(selfdeblur.full_resolution) and their use by the module."""

from __future__ import annotations

import math

import pytest
import torch

from deblur_core.blur import convolve_valid
from deblur_core.motion_blur import random_motion_kernel
from selfdeblur import FastMode, Generators, Optimization, SelfDeblur
from selfdeblur.api import solver_trainer
from selfdeblur.data import BlurryImage, ImagesInMemory
from selfdeblur.full_resolution import deconvolve_photo, saturation_mask, smoothness_for
from selfdeblur.reduced_problem import (
    ReductionPlan,
    downscale,
    gradient_coherence,
    kernel_to_full_scale,
    most_detailed_window,
    plan_reduction,
    reduce_image,
)
from selfdeblur.sparse_deconvolution import deconvolve_sparse


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / float(((a.double() - b.double()) ** 2).mean()))


def texture(channels: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Piecewise-constant blocks (edges a kernel can be read from), in [0.1, 0.9]."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.rand(channels, height // 8 + 1, width // 8 + 1, generator=g)
    return (0.1 + 0.8 * blocks.repeat_interleave(8, 1).repeat_interleave(8, 2))[:, :height, :width].contiguous()


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def spread(kernel: torch.Tensor) -> tuple[float, float, float]:
    """Centroid (row, column) relative to the centre, and the root-mean-square radius."""
    k = kernel.double() / kernel.sum()
    r = torch.arange(k.shape[0], dtype=torch.float64) - (k.shape[0] - 1) / 2
    cy, cx = float((k.sum(1) * r).sum()), float((k.sum(0) * r).sum())
    radius = float((k * ((r[:, None] - cy) ** 2 + (r[None, :] - cx) ** 2)).sum()) ** 0.5
    return cy, cx, radius


# -- the plan ---------------------------------------------------------------------------------------
def test_plan_shrinks_the_kernel_to_the_limit_and_the_image_with_it():
    # 31 px kernel, at most 17: scale 17/31; 720 x 17/31 = 394.8 -> 395, 1280 x 17/31 = 701.9 -> 702.
    plan = plan_reduction(720, 1280, 31, max_kernel_size=17, crop=160)
    assert plan == ReductionPlan(17 / 31, 17, (395, 702), 160, 31) and plan.window_size == (160, 160)
    # 75 px at most 17: 17/75 x 75 = 17 exactly; 51 px: 0.3333 x 51 = 17.
    assert plan_reduction(680, 1024, 75, 17, None).kernel_size == 17
    # 25 px at most 9: 0.36 x 25 = 9; a 16 px window side rounds the scaled kernel up to the next odd size.
    assert plan_reduction(100, 100, 25, 9, None).kernel_size == 9
    assert plan_reduction(100, 100, 11, 7, None).kernel_size == 7  # 7 / 11 x 11 = 7
    # Kernels already within the limit are not downscaled; windows larger than the image take all of it.
    assert plan_reduction(300, 200, 15, 17, 512) == ReductionPlan(1.0, 15, (300, 200), None, 15)
    with pytest.raises(ValueError, match="odd"):
        plan_reduction(100, 100, 16, 9, None)


def test_downscaling_keeps_constants_and_linear_ramps():
    assert torch.allclose(downscale(torch.full((3, 40, 60), 0.3), (20, 30)), torch.full((3, 20, 30), 0.3))
    # A ramp of slope 1 per full-scale pixel is a ramp of slope 2 per half-scale pixel, centred on the same
    # positions (output pixel j sits at input position 2j + 0.5), away from the borders.
    ramp = torch.arange(64.0).expand(1, 8, 64)
    small = downscale(ramp, (4, 32))
    assert torch.allclose(small[0, :, 2:-2], (2 * torch.arange(2.0, 30.0) + 0.5).expand(4, -1), atol=1e-4)


def test_the_window_with_the_most_edges_is_chosen_and_saturated_regions_are_not():
    image = torch.full((3, 120, 160), 0.5)
    image[:, 10:40, 100:140] = texture(3, 30, 40, seed=1)  # detailed, unsaturated
    image[:, 70:110, 10:60] = (texture(3, 40, 50, seed=2) > 0.5).float()  # black and white: more contrast, clipped
    plan = ReductionPlan(1.0, 5, (120, 160), 32, 5)
    window, (top, left) = reduce_image(image, plan, saturation=0.98)
    assert window.shape == (3, 32, 32)
    assert 10 - 2 <= top <= 40 - 32 + 2 and 100 - 2 <= left <= 140 - 32 + 2
    # Without the saturation rule the clipped patch wins (its edges are larger).
    plan_ignoring = ReductionPlan(1.0, 5, (120, 160), 32, 5)
    _, (top2, _) = reduce_image(image, plan_ignoring, saturation=2.0)
    assert top2 >= 70 - 2
    with pytest.raises(ValueError, match="larger"):
        most_detailed_window(torch.zeros(10, 10), (11, 4))


def test_coherence_is_near_one_on_a_straight_edge_and_near_zero_on_texture():
    # A vertical step of 0.5: the 5 x 5 neighbourhoods centred on the step's column hold 5 gradients of (0.5, 0),
    # means 0.1 and 0.1, so r = 0.1 / (0.1 + 0.01) = 10 / 11 by hand.
    step = torch.zeros(1, 20, 20)
    step[:, :, 10:] = 0.5
    r = gradient_coherence(step, 5)
    assert torch.allclose(r[2:-2, 9], torch.full((16,), 10 / 11), atol=1e-6)
    assert float(r[:, :6].max()) == 0 and float(r[:, 14:].max()) == 0  # flat: no gradient, r = 0
    # A checkerboard of 2 px squares: gradients of both signs in every direction cancel in any 5 x 5 neighbourhood.
    board = 0.25 + 0.5 * ((torch.arange(40)[:, None] // 2 + torch.arange(40)[None, :] // 2) % 2).float()
    r = gradient_coherence(board[None], 5)[4:-4, 4:-4]
    assert float(r.max()) < 0.25
    with pytest.raises(ValueError, match="odd"):
        gradient_coherence(step, 4)


def test_coherent_edges_choose_long_edges_over_stronger_texture_and_the_module_uses_the_option():
    image = torch.full((1, 96, 160), 0.5)
    image[:, 8:40, 8:40] = 0.25 + 0.5 * ((torch.arange(32)[:, None] // 2 + torch.arange(32)[None, :] // 2) % 2)
    image[:, 56:88, 100:116] = 0.9  # a bar: four straight edges, less gradient in all than the checkerboard
    plan = ReductionPlan(1.0, 5, (96, 160), 32, 5)
    _, (top, left) = reduce_image(image, plan, window="edges")
    assert (top, left) == (8, 8)
    window, (top, left) = reduce_image(image, plan, window="coherent_edges")
    assert top <= 56 and top + 32 >= 88 and left <= 100 and left + 32 >= 116  # the whole bar
    with pytest.raises(ValueError, match="window"):
        reduce_image(image, plan, window="texture")
    with pytest.raises(ValueError, match="model.fast.window"):
        FastMode(window="texture")  # type: ignore[arg-type]
    # The module's reduced problem is that window (grey image: the target is the image itself).
    model = SelfDeblur(fast=FastMode(enabled=True, max_kernel_size=None, crop=32, window="coherent_edges"))
    problem = model.build_problem("bar", image, 5)
    assert torch.equal(problem.target[0], window)


def test_a_kernel_shrunk_and_brought_back_keeps_its_size_and_centre():
    # A Gaussian of sigma 4 px at full scale is sigma 2 at scale 1/2; back at full scale, sigma 4 again, centred.
    plan = ReductionPlan(0.5, 17, (100, 100), None, 35)
    full = kernel_to_full_scale(gaussian_kernel(17, 2.0).float(), plan)
    assert full.shape == (35, 35) and abs(float(full.sum()) - 1) < 1e-6 and float(full.min()) >= 0
    cy, cx, radius = spread(full)
    assert abs(cy) < 1e-6 and abs(cx) < 1e-6
    assert radius == pytest.approx(4.0 * math.sqrt(2), rel=0.03)  # RMS radius of a 2-D Gaussian: sigma sqrt(2)
    # An off-centre kernel keeps its offset, scaled: a delta 2 px right of centre at scale 1/2 is 4 px right.
    delta = torch.zeros(9, 9)
    delta[4, 6] = 1
    moved = kernel_to_full_scale(delta, ReductionPlan(0.5, 9, (10, 10), None, 17))
    assert spread(moved)[:2] == pytest.approx((0.0, 4.0), abs=1e-6)
    # At scale 1 the kernel is only clipped at zero and normalised.
    same = kernel_to_full_scale(gaussian_kernel(9, 1.5).float(), ReductionPlan(1.0, 9, (10, 10), None, 9))
    assert torch.allclose(same, gaussian_kernel(9, 1.5).float(), atol=1e-7)


# -- the full-resolution image ------------------------------------------------------------------------
def test_deconvolution_of_a_colour_photo_beats_the_blurry_image_and_tiles_do_not_show():
    kernel = random_motion_kernel(9, seed=3)
    sharp = texture(3, 96 + 8, 80 + 8, seed=4)
    blurry = convolve_valid(sharp[None], kernel)[0]  # (3, 96, 80)
    truth = sharp[:, 4:-4, 4:-4]
    whole = deconvolve_photo(blurry, kernel, smoothness=0.0005, cg_iterations=60, tile=1024)
    tiled = deconvolve_photo(blurry, kernel, smoothness=0.0005, cg_iterations=60, tile=40)
    assert whole.shape == blurry.shape
    assert psnr(whole, truth) > psnr(blurry, truth) + 8
    # Each tile is solved with 2k pixels of its neighbours: the seams cost nothing measurable.
    assert abs(psnr(tiled, truth) - psnr(whole, truth)) < 0.2
    assert float((tiled - whole).abs().max()) < 0.05


def test_saturated_pixels_are_left_out_of_the_data_term():
    kernel = torch.zeros(7, 7)
    kernel[3, :] = 1 / 7  # horizontal motion
    sharp = texture(1, 64 + 6, 64 + 6, seed=5)
    sharp[:, 30:36, 30:36] = 4.0  # a light source, far brighter than the sensor's range
    blurry = convolve_valid(sharp[None], kernel)[0].clamp(0, 1)  # the sensor clips
    truth = sharp[:, 3:-3, 3:-3].clamp(0, 1)
    mask = saturation_mask(blurry, 0.98)
    assert float(mask.min()) == 0 and float(mask.mean()) > 0.9
    kept = deconvolve_photo(blurry, kernel, smoothness=0.0005, cg_iterations=60, saturation=0.98)
    trusted = deconvolve_photo(blurry, kernel, smoothness=0.0005, cg_iterations=60, saturation=2.0)
    # Around the highlight, where the clipped pixels would pull the solution down, leaving them out helps.
    around = (slice(None), slice(20, 46), slice(16, 50))
    assert psnr(kept[around], truth[around]) > psnr(trusted[around], truth[around]) + 1.0


def test_auto_smoothness_grows_with_the_square_of_the_noise_above_one_percent():
    g = torch.Generator().manual_seed(6)
    photo = texture(3, 200, 300, seed=6)
    blurry = convolve_valid(photo[None], random_motion_kernel(9, seed=6))[0]
    for sigma, expected in [(0.005, 0.002), (0.01, 0.002), (0.02, 0.008), (0.04, 0.032)]:
        noisy = blurry + sigma * torch.randn(blurry.shape, generator=g)
        assert smoothness_for(noisy, "auto") == pytest.approx(expected, rel=0.1)
    # A large photo is measured on its centre 1024x1024: noise only outside it is not seen.
    large = torch.full((1, 1100, 1100), 0.5)
    large[..., :30, :] += 0.05 * torch.randn(1, 30, 1100, generator=g)
    assert smoothness_for(large, "auto") == 0.002
    # "auto" is resolved once for the photo, then deconvolved as with that number.
    noisy = blurry[:, :60, :60] + 0.03 * torch.randn(3, 60, 60, generator=g)
    kernel = random_motion_kernel(9, seed=6)
    auto = deconvolve_photo(noisy, kernel, smoothness="auto", cg_iterations=5, tile=32)
    fixed = deconvolve_photo(noisy, kernel, smoothness=smoothness_for(noisy, "auto"), cg_iterations=5, tile=32)
    assert torch.equal(auto, fixed)
    assert FastMode().smoothness == "auto" and FastMode(smoothness=0.004).smoothness == 0.004
    for bad in (0.0, "high"):
        with pytest.raises(ValueError, match="model.fast.smoothness"):
            FastMode(smoothness=bad)  # type: ignore[arg-type]


def test_data_weights_of_one_change_nothing():
    blurry = torch.rand(2, 20, 20, dtype=torch.float64)
    kernel = gaussian_kernel(5, 1.0)
    plain = deconvolve_sparse(blurry, kernel, cg_iterations=15)
    weighted = deconvolve_sparse(blurry, kernel, cg_iterations=15, data_weight=torch.ones(2, 20, 20))
    assert torch.allclose(plain, weighted, atol=1e-12)
    with pytest.raises(ValueError, match="data_weight"):
        deconvolve_sparse(blurry, kernel, data_weight=torch.ones(20, 20))


# -- in the module ---------------------------------------------------------------------------------
TINY_GENERATORS = Generators(image_channels=(4, 4), skip_channels=(2, 2), non_local_scales=0, kernel_hidden=(16,))


def test_fast_mode_solves_a_reduced_problem_and_returns_the_full_image_and_kernel():
    blurry = texture(3, 90, 120, seed=6)
    image = BlurryImage("photo", 21, blurry)
    model = SelfDeblur(Optimization(steps=2, milestones=()), TINY_GENERATORS, fast=FastMode(enabled=True, crop=32))
    sizes = []
    original = model.build_problem

    def spy(name: str, b: torch.Tensor, k: int):
        problem = original(name, b, k)
        sizes.append((problem.height, problem.width, problem.kernel_size))
        return problem

    model.build_problem = spy  # type: ignore[method-assign]
    data = ImagesInMemory([image])
    solver_trainer("cpu").fit(model, datamodule=data)
    # 21 px at most 11: scale 11/21, 90 x 120 -> 47 x 63, a 32 x 32 window, an 11 px kernel.
    assert sizes == [(32, 32, 11)]
    result = model.finished[0]
    assert result.image.shape == (3, 90, 120) and result.kernel.shape == (21, 21)
    assert abs(float(result.kernel.sum()) - 1) < 1e-5


def test_auto_uses_the_fast_mode_above_the_size():
    fast = FastMode(enabled="auto", above_pixels=100 * 100)
    assert fast.applies_to(100, 101) and not fast.applies_to(100, 100)
    assert FastMode(enabled=True).applies_to(10, 10) and not FastMode().applies_to(10_000, 10_000)
    with pytest.raises(ValueError, match="model.fast.max_kernel_size"):
        FastMode(max_kernel_size=8)
