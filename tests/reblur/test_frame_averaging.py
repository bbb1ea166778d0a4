"""GOPRO-style blur synthesis from consecutive frames: the formula, the bursts, the DataModule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deblur_core.cli_errors import UsageError
from reblur.data import FrameAveragingDataModule, PairedDataError, average_frames, frame_bursts
from tests.helpers import shared_data


def write_frames(folder: Path, values: list[int], size: tuple[int, int] = (6, 8)) -> list[Path]:
    """Constant gray-level RGB frames ``000000.png ...`` with the given 8-bit values."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, value in enumerate(values):
        path = folder / f"{i:06d}.png"
        Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)
        paths.append(path)
    return paths


def test_average_frames_hand_computed() -> None:
    frames = [np.full((2, 3, 3), v, np.uint8) for v in (10, 200, 90)]
    # ((10^2.2 + 200^2.2 + 90^2.2) / 3)^(1/2.2) = 130.56..., truncated to 130
    expected = np.floor(((10.0**2.2 + 200.0**2.2 + 90.0**2.2) / 3) ** (1 / 2.2))
    assert expected == 130
    blurry = average_frames(frames)
    assert blurry.shape == (3, 2, 3) and blurry.dtype == torch.float32
    assert torch.equal(blurry * 255, torch.full((3, 2, 3), 130.0))
    exact = average_frames(frames, quantize=False) * 255
    assert torch.allclose(exact, torch.full((3, 2, 3), ((10.0**2.2 + 200.0**2.2 + 90.0**2.2) / 3) ** (1 / 2.2)))
    # gamma 1 is the plain mean of the stored values: (10 + 200 + 90) / 3 = 100
    assert torch.equal(average_frames(frames, gamma=1.0) * 255, torch.full((3, 2, 3), 100.0))


def test_average_of_identical_frames_is_the_frame() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    # x^2.2^(1/2.2) can land a hair below an integer; GOPRO's formula truncates, so only the exact
    # powers decide. The test pins what the formula gives, whichever way: no value moves by more than 1.
    blurry = (average_frames([frame] * 4) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.abs(blurry.astype(int) - frame.astype(int)).max() <= 1
    assert np.array_equal(blurry, np.floor((frame.astype(np.float64) ** 2.2) ** (1 / 2.2)).astype(np.uint8))


@pytest.mark.reference
def test_reproduces_a_gopro_style_pair_bit_for_bit() -> None:
    data = shared_data("gopro_samples")
    bursts = frame_bursts(data / "frames", frames_per_blur=8)
    assert [b.name for b in bursts] == ["GOPR0477_11_00/000170.png"]
    blurry, sharp = bursts[0].load()
    stem = data / "pairs" / "GOPR0477_11_00_st_frame-165_n_avg-8"
    expected_blurry = np.asarray(Image.open(f"{stem}.png").convert("RGB"))
    expected_sharp = np.asarray(Image.open(f"{stem}_gt.png").convert("RGB"))

    def as_uint8(image: torch.Tensor) -> np.ndarray:
        return (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()

    assert np.array_equal(as_uint8(blurry), expected_blurry)
    assert np.array_equal(as_uint8(sharp), expected_sharp)


def test_bursts_stride_sharp_frame_and_names(tmp_path: Path) -> None:
    write_frames(tmp_path / "seqA", list(range(0, 100, 10)))  # 10 frames
    write_frames(tmp_path / "seqB", [50] * 4)
    bursts = frame_bursts(tmp_path, frames_per_blur=3)
    # non-overlapping by default: seqA gives frames 0-2, 3-5, 6-8 (frame 9 unused); seqB gives 0-2
    assert [b.name for b in bursts] == ["seqA/000001.png", "seqA/000004.png", "seqA/000007.png", "seqB/000001.png"]
    assert [p.name for p in bursts[1].frames] == ["000003.png", "000004.png", "000005.png"]
    overlapping = frame_bursts(tmp_path, frames_per_blur=3, stride=2, sharp_index=0, sequences=["seqA"])
    assert [b.name for b in overlapping] == ["seqA/000000.png", "seqA/000002.png", "seqA/000004.png", "seqA/000006.png"]
    blurry, sharp = overlapping[1].load()  # frames 20, 30, 40; target frame 20
    assert torch.equal(sharp * 255, torch.full((3, 6, 8), 20.0))
    assert float(blurry[0, 0, 0] * 255) == np.floor(((20.0**2.2 + 30.0**2.2 + 40.0**2.2) / 3) ** (1 / 2.2))
    assert bursts[0].size == (6, 8)


def test_even_burst_takes_the_later_middle_frame_as_gopro(tmp_path: Path) -> None:
    write_frames(tmp_path, [0, 10, 20, 30, 40, 50, 60, 70])
    (burst,) = frame_bursts(tmp_path, frames_per_blur=8)
    assert burst.sharp_index == 4 and burst.name == f"{tmp_path.name}/000004.png"


def test_bad_frame_folders_are_listed(tmp_path: Path) -> None:
    write_frames(tmp_path / "short", [1, 2])
    write_frames(tmp_path / "mixed", [1, 2, 3])
    write_frames(tmp_path / "mixed2", [1], size=(4, 4))
    (tmp_path / "mixed2" / "000000.png").rename(tmp_path / "mixed" / "000009.png")
    write_frames(tmp_path / "broken", [1, 2, 3])
    (tmp_path / "broken" / "000001.png").write_bytes(b"not a png")
    with pytest.raises(PairedDataError) as err:
        frame_bursts(tmp_path, frames_per_blur=3)
    text = str(err.value)
    assert "sequence 'short' has 2 frames, fewer than frames_per_blur 3" in text
    assert "sequence 'mixed' mixes frame sizes" in text
    assert f"cannot open image '{tmp_path / 'broken' / '000001.png'}'" in text
    with pytest.raises(PairedDataError, match="no sequence 'nope'"):
        frame_bursts(tmp_path, frames_per_blur=1, sequences=["nope"])
    with pytest.raises(PairedDataError, match="expected a folder"):
        frame_bursts(tmp_path / "absent")


def test_datamodule_holds_out_sequences_and_crops(tmp_path: Path) -> None:
    for name, value in (("train1", 40), ("train2", 80), ("val1", 120)):
        write_frames(tmp_path / name, [value] * 6, size=(20, 24))
    dm = FrameAveragingDataModule(
        str(tmp_path), val_sequences=["val1"], frames_per_blur=3, batch_size=2, crop_size=16, num_workers=0
    )
    dm.setup("fit")
    assert len(dm.train_set) == 4 and len(dm.val_set) == 2
    batch = next(iter(dm.train_dataloader()))
    assert batch["blurry"].shape == (2, 3, 16, 16)
    # constant frames: the average of equal values is that value again (within the truncation)
    assert set(batch["name"]) <= {"train1/000001.png", "train1/000004.png", "train2/000001.png", "train2/000004.png"}
    val = next(iter(dm.val_dataloader()))
    assert val["name"] == ["val1/000001.png"] and val["sharp"].shape == (1, 3, 20, 24)
    assert torch.allclose(val["sharp"] * 255, torch.full((1, 3, 20, 24), 120.0))
    with pytest.raises(UsageError, match="val_sequences: no sequence \\['other'\\]"):
        FrameAveragingDataModule(str(tmp_path), val_sequences=["other"], frames_per_blur=3, num_workers=0).setup("fit")
    with pytest.raises(UsageError, match="val_sequences is empty"):
        FrameAveragingDataModule(str(tmp_path), frames_per_blur=3, num_workers=0).setup("test")
    with pytest.raises(UsageError, match="sharp_index"):
        FrameAveragingDataModule(str(tmp_path), frames_per_blur=3, sharp_index=3)
