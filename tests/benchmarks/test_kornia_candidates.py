"""The kornia-candidates benchmark in its ``--quick`` form: one JSON object, every figure present and a number."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from benchmarks import kornia_candidates


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def quick_run() -> tuple[dict, str]:
    """One ``--quick`` run for the whole module: the returned dict and what was printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        # One thread: with two on a machine whose cores other work shares, the OpenMP threads of torch's
        # kernels wait on each other and the same run takes ten times longer.
        result = kornia_candidates.main(["--quick", "--threads", "1"])
    return result, printed.getvalue()


@pytest.fixture
def quick_result(quick_run) -> dict:
    return quick_run[0]


@pytest.mark.slow
def test_prints_the_returned_json(quick_run):
    result, printed = quick_run
    assert json.loads(printed) == result


@pytest.mark.slow
def test_machine_fields(quick_result):
    for key in ("torch", "kornia", "cpu", "threads", "device", "repeats"):
        assert key in quick_result
    assert quick_result["quick"] is True and quick_result["threads"] == 1
    assert len(quick_result["load_average"]["start"]) == len(quick_result["load_average"]["end"]) == 3


@pytest.mark.slow
def test_color_figures(quick_result):
    colour = quick_result["color"]
    for name in ("rgb_to_ycbcr", "ycbcr_to_rgb"):
        assert all(number(v) for v in colour[name]["max_abs_diff"].values())
        assert all(number(v) for shape in colour[name]["ms"].values() for v in shape.values())
    for side in ("ours", "kornia", "kornia_forward_our_inverse"):
        assert set(colour["round_trip_max_abs_error"][side]) == {"float64", "float32"}
    # Our round trip is exact to float64 rounding; kornia's forward uses rounded constants (0.564, 0.713).
    assert colour["round_trip_max_abs_error"]["ours"]["float64"] < 1e-14
    assert colour["rgb_to_ycbcr"]["max_abs_diff"]["float64"] > 1e-5
    gray = colour["rgb_to_gray"]
    assert gray["max_abs_diff_matlab_weights"]["float64"] < 1e-14  # our weights passed: equal to rounding
    assert gray["max_abs_diff_default_weights"]["float64"] > 1e-6  # BT.601 weights are not rgb2gray's
    assert number(gray["rounded_levels_differing"]["differing"])
    assert number(colour["rgb_to_y"]["max_abs_diff_kornia_rgb_to_y"]["float64"])


@pytest.mark.slow
def test_filtering_figures(quick_result):
    filtering = quick_result["filtering"]
    same = filtering["ssim_same_zero_padding"]
    for key in ("max_abs_diff_float64", "max_abs_diff_float32", "ms_forward_backward_float32"):
        assert all(number(v) for v in same[key].values())
    assert same["max_abs_diff_float64"]["filter2d_separable"] < 1e-12
    assert number(same["loss_gradient_filter2d_separable"]["float64"]["max_abs_diff"])
    valid = filtering["ssim_valid"]
    for key in ("max_abs_diff_float64", "max_abs_diff_float32", "ms_forward_float64", "ms_forward_float32"):
        assert all(number(v) for v in valid[key].values())
    blur = filtering["correlate_valid"]
    # kornia's filter2d correlates by default: equal to ours; behaviour="conv" flips the filter.
    assert blur["max_abs_diff_float64"]["filter2d_corr"] < 1e-14 < blur["max_abs_diff_float64"]["filter2d_conv"]
    assert all(number(v) for k in blur["ms_forward_backward_float32"].values() for v in k.values())
    mscn = filtering["niqe_mscn"]
    assert all(number(v) for v in mscn["mscn_max_abs_diff"].values())
    assert all(number(v) for v in mscn["exact_zeros_of_gray_minus_mu"].values())
    assert mscn["exact_zeros_of_gray_minus_mu"]["flat_7x7_neighbourhoods"] > 0  # the frame has flat areas
    assert all(number(v) for v in mscn["ms_float64"].values())
    assert number(mscn["niqe_of_flat_frame"]["difference"])


@pytest.mark.slow
def test_augmentation_figures(quick_result):
    augmentation = quick_result["augmentation"]
    for check in augmentation["kornia_exactness"].values():
        assert number(check["max_abs_diff_to_exact_symmetry_of_crop"]) and isinstance(check["pairs_aligned"], bool)
    counts = augmentation["symmetry_counts"]
    assert sum(counts["ours"]) == sum(counts["kornia"]) == counts["draws"]
    assert all(c > 0 for c in counts["ours"])  # the Dataset reaches all 8 symmetries
    assert augmentation["reproducible_under_seed_everything"]["ours"] is True
    assert isinstance(augmentation["reproducible_under_seed_everything"]["kornia"], bool)
    assert all(number(v) for v in augmentation["ms_per_batch"].values())
    assert "GPU" in augmentation["note"]


@pytest.mark.slow
def test_leaves_threads_and_random_state_alone():
    import torch

    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    with contextlib.redirect_stdout(io.StringIO()):
        kornia_candidates.main(["--quick", "--threads", "1", "--repeats", "1"])
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)
