"""NIQE on images with large flat regions: ours against a NumPy transcription of the MATLAB release.

The reference (:func:`benchmarks.niqe_flat_regions.reference_niqe`, shared with the sensitivity study) counts
the exact zeros of the MSCN coefficients as MATLAB's ``estimateaggdparam`` does (in ``rhat``, on neither side)
and makes them exact in every flat 7x7 neighbourhood. These tests found three deviations of
:mod:`reblur.metrics.niqe`, since mended (docs/results/niqe_flat_regions.md): plain 7-tap sums returned the gray
level bit for bit for only 166 of the 256 levels (flat white, 235 in Y and 255 in gray, got residues of about
-6e-14, counted on the left side); an undefined fit (a wholly flat block) got shape NaN where MATLAB's ``min``
over NaNs gives 0.2, which ``nanmean`` then averages in; the second scale was resized from levels / 255, which
moved flat areas off their level.

The reference starts from our gray levels, so that only the feature path is compared here; the colour
conversion has a test of its own. On Lai et al.'s images the MSCN maps may still differ in the signs of
coefficients that are 0 only in exact arithmetic (outside flat neighbourhoods; their sign is a rounding
accident of any implementation), which moves NIQE by at most 2e-4 there.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import niqe_flat_regions as study
from benchmarks.niqe_flat_regions import (
    BABOON,
    aggd_parameters,
    exact_ties,
    flat_region_image,
    mscn_pyramid,
    read_uint8,
    reference_block_features,
    reference_gray,
    reference_mscn,
    reference_niqe,
    saturated_image,
    text_image,
    to_tensor,
)
from reblur.metrics.niqe import _blocks, _mscn, block_features, gray_levels, niqe, pristine_model
from tests.helpers import shared_data

TOLERANCE = 1e-6


def ours_and_reference(pixels: np.ndarray, color: str) -> tuple[float, float]:
    """NIQE of ``(H, W, 3)`` uint8 by :func:`niqe` and by the reference on the same gray levels."""
    tensor = to_tensor(pixels)
    gray = gray_levels(tensor, color=color)[0].numpy()
    return niqe(tensor, color=color).item(), reference_niqe(gray, undefined="matlab")


def with_flat_block(pixels: np.ndarray, level: int) -> np.ndarray:
    """A copy with the top-left 96x96 block set to ``level``: a block whose fits are undefined."""
    pixels = pixels.copy()
    pixels[:96, :96] = level
    return pixels


@pytest.fixture(scope="module")
def window() -> torch.Tensor:
    return pristine_model()["window"]


# --- the reference itself ----------------------------------------------------------------------------------------


def test_reference_mscn_is_exactly_zero_in_flat_neighbourhoods_at_every_level(window):
    levels = np.arange(256, dtype=np.float64)
    for level in levels:
        assert not reference_mscn(np.full((16, 16), level), window.numpy()).any()
    # ...which a single 2-D pass is not: its residues are what variant ii counts on one side.
    residues = [reference_mscn(np.full((16, 16), level), window.numpy(), "2d")[8, 8] for level in levels]
    assert 0 < np.count_nonzero(residues) < 256 and np.abs(residues).max() < 1e-12


def test_reference_aggd_counts_zeros_in_rhat_only():
    vec = np.array([-2.0, -1.0, 0.0, 0.0, 1.0, 3.0])
    alpha, left, right = aggd_parameters(vec)
    shape_scale = np.sqrt(study.gamma_fn(1 / alpha) / study.gamma_fn(3 / alpha))
    assert left == pytest.approx(np.sqrt((4 + 1) / 2) * shape_scale)
    assert right == pytest.approx(np.sqrt((1 + 9) / 2) * shape_scale)
    # rhat (zeros included: mean|x| = 7/6, mean x^2 = 15/6) decides the shape; counting the zeros on a side
    # changes that side's spread and, through gammahat, the shape
    assert aggd_parameters(vec, zeros="left")[1] != pytest.approx(left)
    assert aggd_parameters(vec, zeros="right")[0] != alpha
    # an empty side: MATLAB's min over NaNs returns the first grid shape
    assert np.isnan(aggd_parameters(np.zeros(10))[0])
    assert aggd_parameters(np.zeros(10), undefined="matlab")[0] == pytest.approx(0.2)


def test_colour_conversion_matches_matlab_except_at_exact_ties():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    for color in ("y", "gray"):
        ours = gray_levels(to_tensor(pixels), color=color)[0].numpy()
        differing = ours != reference_gray(pixels, color)
        # an exact half of Y rounds by the last bit of the floating-point sum, in MATLAB as here
        assert not (differing & ~exact_ties(pixels)).any()


# --- ours against the reference ------------------------------------------------------------------------------------


@pytest.mark.parametrize("color", ["y", "gray"])
@pytest.mark.parametrize("level", [0, 128])  # levels our plain sums happen to reproduce (0/16 and 126/128)
def test_flat_regions_match_the_reference(level, color):
    ours, reference = ours_and_reference(flat_region_image(192, level, flat=80), color)
    assert ours == pytest.approx(reference, abs=TOLERANCE)


@pytest.mark.parametrize("color", ["y", "gray"])
def test_baboon_matches_the_reference(color):
    ours, reference = ours_and_reference(read_uint8(BABOON), color)
    assert ours == pytest.approx(reference, abs=TOLERANCE)


@pytest.mark.parametrize("color", ["y", "gray"])
def test_flat_white_regions_match_the_reference(color):
    ours, reference = ours_and_reference(flat_region_image(192, 255, flat=80), color)
    assert ours == pytest.approx(reference, abs=TOLERANCE)


def test_a_wholly_flat_black_block_matches_the_reference():
    # level 0 (Y 16) is one our sums reproduce: only the undefined fits of the flat block differ
    ours, reference = ours_and_reference(with_flat_block(flat_region_image(192, 0, flat=80), 0), "y")
    assert ours == pytest.approx(reference, abs=TOLERANCE)


def test_the_undefined_fit_rule_matters_on_a_wholly_flat_block():
    gray = gray_levels(to_tensor(with_flat_block(flat_region_image(192, 0, flat=80), 0)))[0].numpy()
    assert abs(reference_niqe(gray, undefined="nan") - reference_niqe(gray, undefined="matlab")) > 1e-3


@pytest.mark.parametrize(
    "make", [lambda: saturated_image(384), lambda: text_image(384, rectangles=True)], ids=["saturated", "text"]
)
def test_saturated_and_text_images_match_the_reference(make):
    ours, reference = ours_and_reference(make(), "y")
    assert ours == pytest.approx(reference, abs=TOLERANCE)


@pytest.mark.parametrize("color", ["y", "gray"])
def test_flat_region_blocks_count_zeros_as_matlab(color, window):
    pixels = flat_region_image(192, 0, flat=80)
    gray = gray_levels(to_tensor(pixels), color=color)
    ours_mscn = _mscn(gray, window)
    reference = mscn_pyramid(gray[0].numpy())[0]
    zeros = (ours_mscn[0] == 0).numpy()
    np.testing.assert_array_equal(zeros, reference == 0)
    assert 0.4 < zeros.mean() < 0.9  # (80 - 6)^2 / 96^2 of the pixels are in flat 7x7 neighbourhoods

    ours = block_features(_blocks(ours_mscn, 96).flatten(0, 1)).numpy()
    blocks = [reference[i : i + 96, j : j + 96] for j in (0, 96) for i in (0, 96)]  # column-major, as blkproc
    expected = np.stack([reference_block_features(block) for block in blocks])
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
    # the test can tell the rules apart: counting the zeros on a side moves the fits
    for side in ("left", "right"):
        moved = np.stack([reference_block_features(block, zeros=side) for block in blocks])
        assert np.abs(moved - expected).max() > 1e-2


def test_our_mscn_is_exactly_zero_in_flat_neighbourhoods_at_every_level(window):
    levels = torch.arange(256, dtype=torch.float64)[:, None, None].expand(256, 16, 16).contiguous()
    assert not _mscn(levels, window).any()


@pytest.mark.reference
def test_lai_saturated_and_text_images_differ_from_the_reference_only_in_the_signs_of_zeros():
    """Lai et al.'s saturated and text ground truths (Y): our MSCN coefficients and the reference's differ in
    sign only where both are within 1e-12 of 0, the features of every block that holds exact zeros and whose
    signs agree are equal (the zero rule at work; blocks without zeros are baboon's case, tested above), and the
    NIQE values agree to 1e-3 (docs/results/niqe_flat_regions.md: 2e-4 measured)."""
    folder = shared_data("lai") / "ground_truth"
    paths = sorted(folder.glob("saturated_*.png")) + sorted(folder.glob("text_*.png"))
    assert len(paths) == 10
    compared = disagreeing = undefined = 0
    for path in paths:
        pixels = read_uint8(path)
        ours_niqe, reference_value = ours_and_reference(pixels, "y")
        assert ours_niqe == pytest.approx(reference_value, abs=1e-3), path.stem
        gray = gray_levels(to_tensor(pixels))[0].numpy()
        for scale, (ours, reference) in enumerate(zip(study.ours_mscn(pixels, "y"), mscn_pyramid(gray)), start=1):
            ours = ours.numpy()
            signs_differ = np.sign(ours) != np.sign(reference)
            assert np.abs(ours[signs_differ]).max(initial=0) < 1e-12, path.stem
            assert np.abs(reference[signs_differ]).max(initial=0) < 1e-12, path.stem
            np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9, err_msg=path.stem)

            size = 96 // scale
            rows, cols = ours.shape[0] // size, ours.shape[1] // size
            cells = [
                (slice(i * size, (i + 1) * size), slice(j * size, (j + 1) * size))
                for j in range(cols)
                for i in range(rows)
            ]
            agreeing = [cell for cell in cells if not signs_differ[cell].any()]
            disagreeing += len(cells) - len(agreeing)
            agreeing = [cell for cell in agreeing if (reference[cell] == 0).any()]
            if not agreeing:
                continue
            expected = np.stack([reference_block_features(reference[cell]) for cell in agreeing])
            defined = np.isfinite(expected).all(axis=1)  # undefined fits follow a rule of their own (above)
            undefined += int((~defined).sum())
            compared += int(defined.sum())
            if defined.any():
                blocks = torch.stack([torch.from_numpy(ours[cell]) for cell, ok in zip(agreeing, defined) if ok])
                features = block_features(blocks).numpy()
                np.testing.assert_allclose(features, expected[defined], rtol=1e-9, atol=1e-12, err_msg=path.stem)
    # Of the 792 blocks (both scales), 461 are compared, 7 differ in signs (coefficients that are 0 in exact
    # arithmetic outside flat neighbourhoods) and 47 with zeros have undefined fits.
    assert compared >= 450 and disagreeing <= 10, (compared, disagreeing, undefined)


# --- the study ---------------------------------------------------------------------------------------------------


def test_study_quick_mode(capsys):
    import json

    result = study.main(["--quick"])
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(result))
    rows = {(row["image"], row["color"]): row for row in result["images"]}
    assert set(rows) == {(image, color) for image in ("flat_white_192", "text_rect_192") for color in ("y", "gray")}
    for row in rows.values():
        assert row["zero_fraction_exact"][0] > 0.3
        # thresholding the 2-D residues restores the exact zeros; counting them on a side does not
        assert row["v_2d_threshold"] == pytest.approx(row["i_exact"], abs=1e-9)
        assert abs(row["iii_left"] - row["i_exact"]) > 1e-2 and abs(row["iv_right"] - row["i_exact"]) > 1e-2
    assert set(result["max_abs_difference_to_ours"]) == {"synthetic"}
