"""Tests of reblur.data: dataset layouts and their checks, aligned augmentation, synthetic pairs, DataModules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader

from deblur_core import motion_blur
from deblur_core.crop import center_crop
from deblur_core.sample_images import load_skimage
from reblur.data import (
    GoProDataModule,
    ImagePair,
    PairedDataError,
    PairedImageDataset,
    REDSDataModule,
    SyntheticPairsDataModule,
    TensorPair,
    fit_square,
    folder_pairs,
    gopro_pairs,
    kernel_seed,
    reds_pairs,
    synthesize_pair,
    synthetic_splits,
)

H, W = 24, 32
RNG = np.random.default_rng(0)


def write_png(path: Path, height: int = H, width: int = W, gray: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (height, width) if gray else (height, width, 3)
    Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def make_gopro(root: Path, sequences: dict[str, dict[str, int]] | None = None) -> Path:
    """ROOT/{train,test}/<sequence>/{blur,blur_gamma,sharp}/NNNNNN.png with the given frame counts."""
    sequences = sequences or {"train": {"GOPR0372_07_00": 3, "GOPR0374_11_00": 2}, "test": {"GOPR0384_11_00": 4}}
    for split, seqs in sequences.items():
        for seq, count in seqs.items():
            for folder in ("blur", "blur_gamma", "sharp"):
                for i in range(count):
                    write_png(root / split / seq / folder / f"{i + 1:06d}.png")
    return root


def make_reds(root: Path) -> Path:
    """ROOT/train/train_{blur,sharp}/<seq>/*.png and ROOT/val/val_{blur,sharp}/<seq>/*.png."""
    for split, seqs in {"train": {"000": 3, "001": 2}, "val": {"000": 2}}.items():
        for seq, count in seqs.items():
            for kind in ("blur", "sharp"):
                for i in range(count):
                    write_png(root / split / f"{split}_{kind}" / seq / f"{i:08d}.png")
    return root


# ---------------------------------------------------------------- layouts


def test_gopro_pairs_found_with_names_sizes_and_blur_folder(tmp_path):
    root = make_gopro(tmp_path / "GOPRO_Large")
    (root / "train" / "GOPR0372_07_00" / "sharp" / ".DS_Store").write_bytes(b"junk")  # ignored
    (root / "train" / "GOPR0372_07_00" / "blur_gamma" / "notes.txt").write_text("ignored")
    train = gopro_pairs(root, "train")
    assert [p.name for p in train] == [
        "GOPR0372_07_00/000001.png",
        "GOPR0372_07_00/000002.png",
        "GOPR0372_07_00/000003.png",
        "GOPR0374_11_00/000001.png",
        "GOPR0374_11_00/000002.png",
    ]
    assert all(p.blurry.parent.name == "blur_gamma" and p.sharp.parent.name == "sharp" for p in train)
    assert all(p.blurry.name == p.sharp.name and p.size == (H, W) for p in train)
    linear = gopro_pairs(root, "train", blur_folder="blur")
    assert [p.blurry.parent.name for p in linear] == ["blur"] * 5
    assert [p.sharp for p in linear] == [p.sharp for p in train]
    test = gopro_pairs(root, "test")
    assert len(test) == 4 and test[0].blurry == root / "test" / "GOPR0384_11_00" / "blur_gamma" / "000001.png"


def test_reds_and_folder_pairs_found(tmp_path):
    root = make_reds(tmp_path / "REDS")
    train, val = reds_pairs(root, "train"), reds_pairs(root, "val")
    names = ["000/00000000.png", "000/00000001.png", "000/00000002.png", "001/00000000.png", "001/00000001.png"]
    assert [p.name for p in train] == names
    assert train[0].blurry == root / "train" / "train_blur" / "000" / "00000000.png"
    assert train[0].sharp == root / "train" / "train_sharp" / "000" / "00000000.png"
    assert [p.name for p in val] == ["000/00000000.png", "000/00000001.png"]
    assert val[1].sharp == root / "val" / "val_sharp" / "000" / "00000001.png"

    pairs = folder_pairs(root / "train" / "train_blur", root / "train" / "train_sharp")
    assert [p.name for p in pairs] == [p.name for p in train]
    with pytest.raises(ValueError, match="test"):
        reds_pairs(root, "test")


def _gopro_error(root: Path, **kwargs) -> str:
    with pytest.raises(PairedDataError) as info:
        gopro_pairs(root, "train", **kwargs)
    return str(info.value)


def test_missing_twins_are_named(tmp_path):
    root = make_gopro(tmp_path / "GOPRO_Large")
    seq = root / "train" / "GOPR0372_07_00"
    (seq / "sharp" / "000002.png").unlink()
    (seq / "blur_gamma" / "000003.png").unlink()
    message = _gopro_error(root)
    assert message.startswith("2 problems in GOPRO_Large")
    assert f"blurry '{seq / 'blur_gamma' / '000002.png'}' has no sharp twin" in message
    assert f"sharp '{seq / 'sharp' / '000003.png'}' has no blurry twin" in message
    # With blur_folder='blur' only the missing sharp frame is a problem.
    assert "1 problem in" in _gopro_error(root, blur_folder="blur")


def test_size_mismatch_is_named(tmp_path):
    root = make_gopro(tmp_path / "GOPRO_Large")
    sharp = write_png(root / "train" / "GOPR0374_11_00" / "sharp" / "000001.png", H, W - 2)
    message = _gopro_error(root)
    assert "size mismatch" in message and f"'{sharp}' is {H}x{W - 2}" in message
    assert str(root / "train" / "GOPR0374_11_00" / "blur_gamma" / "000001.png") in message


def test_unreadable_images_are_named(tmp_path):
    root = make_gopro(tmp_path / "GOPRO_Large")
    corrupt = root / "train" / "GOPR0372_07_00" / "blur_gamma" / "000001.png"
    corrupt.write_bytes(b"this is not a png")
    empty = root / "train" / "GOPR0374_11_00" / "sharp" / "000002.png"
    empty.write_bytes(b"")
    message = _gopro_error(root)
    assert f"cannot open image '{corrupt}'" in message and f"cannot open image '{empty}'" in message


def test_truncated_image_caught_at_setup_by_default_and_good_files_decoded_once(tmp_path, monkeypatch):
    from deblur_core import decoded_images

    monkeypatch.setenv("DEBLUR_CACHE_DIR", str(tmp_path / "cache"))
    root = make_gopro(tmp_path / "GOPRO_Large")
    path = root / "train" / "GOPR0372_07_00" / "sharp" / "000001.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still parses
    assert len(gopro_pairs(root, "train", verify=False)) == 5  # headers only
    decoded: list[Path] = []
    decode = decoded_images._decode
    monkeypatch.setattr(decoded_images, "_decode", lambda p: decoded.append(p) or decode(p))
    assert f"cannot decode image '{path}'" in _gopro_error(root)
    assert len(decoded) == 10
    # The 9 good files are remembered; only the bad one is decoded again...
    decoded.clear()
    _gopro_error(root)
    assert decoded == [path]
    # ...until it is repaired (a new size and mtime), after which nothing is decoded.
    path.write_bytes(data)
    decoded.clear()
    assert len(gopro_pairs(root, "train")) == 5 and decoded == [path]
    decoded.clear()
    gopro_pairs(root, "train")
    assert decoded == []


def test_missing_root_split_and_folders_are_named(tmp_path):
    assert f"dataset root '{tmp_path / 'nowhere'}'" in _gopro_error(tmp_path / "nowhere")
    root = tmp_path / "GOPRO_Large"
    (root / "test").mkdir(parents=True)
    message = _gopro_error(root)
    assert f"'{root / 'train'}'" in message and "does not exist" in message and "GOPRO_Large" in message
    assert "{train,test}/<sequence>/{blur,blur_gamma,sharp}" in message  # the expected layout is shown
    (root / "train").mkdir()
    assert f"split folder '{root / 'train'}' holds no sequence folders" in _gopro_error(root)

    make_gopro(root, {"train": {"GOPR0001_00_00": 1}})
    seq = root / "train" / "GOPR0001_00_00"
    for f in (seq / "blur_gamma").iterdir():
        f.unlink()
    (seq / "blur_gamma").rmdir()
    message = _gopro_error(root)
    assert f"sequence '{seq}' has no 'blur_gamma/' folder" in message and "blur_folder='blur'" in message
    (seq / "blur").rename(seq / "blur_gamma")
    for f in (seq / "blur_gamma").iterdir():
        f.unlink()
    for f in (seq / "sharp").iterdir():
        f.unlink()
    assert "hold no images" in _gopro_error(root)


def test_reds_missing_folders_and_sequences_are_named(tmp_path):
    root = make_reds(tmp_path / "REDS")
    write_png(root / "train" / "train_blur" / "007" / "00000000.png")
    with pytest.raises(PairedDataError, match="REDS") as info:
        reds_pairs(root, "train")
    assert f"blurry sequence '{root / 'train' / 'train_blur' / '007'}' has no sharp twin" in str(info.value)
    for f in (root / "val" / "val_sharp" / "000").iterdir():
        f.unlink()
    (root / "val" / "val_sharp" / "000").rmdir()
    (root / "val" / "val_sharp").rmdir()
    with pytest.raises(PairedDataError) as info:
        reds_pairs(root, "val")
    assert f"expected folder '{root / 'val' / 'val_sharp'}', but it does not exist" in str(info.value)


def test_many_problems_listed_with_count(tmp_path):
    root = make_gopro(tmp_path / "GOPRO_Large", {"train": {"GOPR0001_00_00": 25}})
    for f in (root / "train" / "GOPR0001_00_00" / "sharp").iterdir():
        f.unlink()
    (root / "train" / "GOPR0001_00_00" / "sharp" / "keep.txt").write_text("the folder must exist")
    with pytest.raises(PairedDataError) as info:
        gopro_pairs(root)
    message = str(info.value)
    assert message.startswith("25 problems") and "... and 5 more" in message
    assert message.count("has no sharp twin") == 20 and len(info.value.problems) == 25


# ---------------------------------------------------------------- paired dataset

CH, CW = 40, 48


def coordinate_pair() -> TensorPair:
    """sharp = (row/64, col/64, random k/256), blurry = 1 - sharp: dyadic values, so 1 - x is exact in float32."""
    rows = torch.arange(CH).view(-1, 1).expand(CH, CW) / 64
    cols = torch.arange(CW).view(1, -1).expand(CH, CW) / 64
    noise = torch.randint(0, 256, (CH, CW), generator=torch.Generator().manual_seed(1)) / 256
    sharp = torch.stack([rows, cols, noise]).float()
    return TensorPair(1 - sharp, sharp, "ramp")


def symmetry_of(sharp_crop: torch.Tensor) -> tuple:
    """Where the crop's right and down neighbours came from: identifies one of the 8 symmetries."""
    rows, cols = (sharp_crop[0] * 64).round().long(), (sharp_crop[1] * 64).round().long()
    right = (int(rows[0, 1] - rows[0, 0]), int(cols[0, 1] - cols[0, 0]))
    down = (int(rows[1, 0] - rows[0, 0]), int(cols[1, 0] - cols[0, 0]))
    return right, down


def test_crops_and_symmetries_are_aligned_exactly_and_cover_all_eight():
    pair = coordinate_pair()
    dataset = PairedImageDataset([pair], crop_size=16, augment=True)
    torch.manual_seed(0)
    symmetries, windows = set(), set()
    for _ in range(200):
        item = dataset[0]
        blurry, sharp = item["blurry"], item["sharp"]
        assert blurry.shape == sharp.shape == (3, 16, 16) and blurry.dtype == sharp.dtype == torch.float32
        assert torch.equal(blurry, 1 - sharp)  # the pair relation survives crop, flips and rotations
        rows, cols = (sharp[0] * 64).round().long(), (sharp[1] * 64).round().long()
        top, left = int(rows.min()), int(cols.min())
        assert int(rows.max()) - top == 15 and int(cols.max()) - left == 15  # a genuine 16x16 window
        # The third channel moved with the coordinates: the crop is the original pixels, rearranged.
        assert torch.equal(sharp[2], pair.sharp[2][rows, cols])
        symmetries.add(symmetry_of(sharp))
        windows.add((top, left))
    assert len(symmetries) == 8
    assert len(windows) > 50  # different draws take different places


def test_without_augment_crops_keep_orientation_and_vary():
    dataset = PairedImageDataset([coordinate_pair()] * 4, crop_size=8, augment=False)
    torch.manual_seed(0)
    items = [dataset[i] for i in range(4)] + [dataset[0] for _ in range(4)]
    assert {symmetry_of(it["sharp"]) for it in items} == {((0, 1), (1, 0))}
    assert len({(float(it["sharp"][0, 0, 0]), float(it["sharp"][1, 0, 0])) for it in items}) > 4


def test_random_draws_repeat_under_seed():
    dataset = PairedImageDataset([coordinate_pair()], crop_size=8, augment=True, channel_shuffle=True, noise_sigma=0.1)
    pl.seed_everything(3, workers=True, verbose=False)
    first = [dataset[0]["blurry"] for _ in range(5)]
    pl.seed_everything(3, workers=True, verbose=False)
    second = [dataset[0]["blurry"] for _ in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], first[1])


def test_worker_randomness_repeats_under_lightning_seeding():
    # Workers' torch generators are seeded from the main process's, which seed_everything sets.
    dataset = PairedImageDataset([coordinate_pair()] * 4, crop_size=8, augment=True)

    def epoch():
        return torch.cat([batch["sharp"] for batch in DataLoader(dataset, batch_size=2, num_workers=1)])

    pl.seed_everything(5, workers=True, verbose=False)
    first, second = epoch(), epoch()
    pl.seed_everything(5, workers=True, verbose=False)
    assert torch.equal(first, epoch())
    assert not torch.equal(first, second)  # the next epoch draws anew


def test_channel_shuffle_keeps_the_pair_relation():
    colours = torch.tensor([0.25, 0.5, 0.75]).view(3, 1, 1).expand(3, 12, 12)
    dataset = PairedImageDataset([TensorPair(1 - colours, colours.clone(), "c")], crop_size=8, channel_shuffle=True)
    torch.manual_seed(0)
    orders = set()
    for _ in range(60):
        item = dataset[0]
        assert torch.equal(item["blurry"], 1 - item["sharp"])
        order = tuple(item["sharp"][:, 0, 0].tolist())
        assert sorted(order) == [0.25, 0.5, 0.75]
        orders.add(order)
    assert len(orders) == 6


def test_noise_only_on_the_blurry_input():
    grey = torch.full((3, 32, 32), 0.5)
    dataset = PairedImageDataset([TensorPair(grey.clone(), grey.clone(), "g")], crop_size=32, noise_sigma=0.05)
    torch.manual_seed(0)
    item = dataset[0]
    assert torch.equal(item["sharp"], grey)
    assert abs(float((item["blurry"] - grey).std()) - 0.05) < 0.005
    assert float(item["blurry"].min()) >= 0 and float(item["blurry"].max()) <= 1
    assert torch.equal(dataset.pairs[0].blurry, grey)  # the stored pair is untouched


def test_file_pairs_evaluation_mode_and_grayscale(tmp_path):
    sharp = write_png(tmp_path / "sharp" / "a.png", gray=True)
    blurry = tmp_path / "blurry" / "a.png"
    blurry.parent.mkdir()
    Image.fromarray(255 - np.asarray(Image.open(sharp))).save(blurry)
    dataset = PairedImageDataset([ImagePair(blurry, sharp, "a.png")], crop_size=None)
    assert dataset.pairs[0].size == (H, W)  # headers were read when the dataset was built
    item = dataset[0]
    assert item["name"] == "a.png" and item["blurry"].shape == item["sharp"].shape == (3, H, W)
    assert torch.equal(item["sharp"][0], item["sharp"][2])  # grey expanded to 3 equal channels
    assert torch.allclose(item["blurry"], 1 - item["sharp"], atol=1e-6)
    assert torch.equal(dataset[0]["sharp"], item["sharp"])  # full frames, no randomness
    with pytest.raises(ValueError, match="evaluation mode"):
        PairedImageDataset([ImagePair(blurry, sharp, "a.png")], crop_size=None, augment=True)


def test_crop_larger_than_image_fails_at_build(tmp_path):
    small = write_png(tmp_path / "b" / "small.png", 12, 40)
    twin = write_png(tmp_path / "s" / "small.png", 12, 40)
    with pytest.raises(PairedDataError) as info:
        PairedImageDataset(
            [ImagePair(small, twin, "small.png"), TensorPair(torch.rand(3, 8, 8), torch.rand(3, 8, 8), "tiny")],
            crop_size=16,
        )
    message = str(info.value)
    assert f"'{small}' is 12x40 (HxW), smaller than crop_size 16" in message
    assert "in-memory pair 'tiny' is 8x8" in message


# ---------------------------------------------------------------- synthetic pairs


def test_synthesized_pair_is_centred_on_its_sharp_target():
    k, size = 7, 20
    margin = torch.zeros(1, size + k - 1, size + k - 1)
    margin[0, 9, 14] = 1.0  # one bright dot: in the sharp target it lands at (9 - 3, 14 - 3)
    delta = torch.zeros(k, k)
    delta[k // 2, k // 2] = 1
    pair = synthesize_pair(margin, delta)
    assert pair.blurry.shape == pair.sharp.shape == (1, size, size)
    assert pair.sharp[0, 6, 11] == 1 and torch.equal(pair.blurry, pair.sharp)

    # A real camera-shake kernel smears the dot around the same place (its centre of mass is the
    # kernel centre), so blurry pixel (i, j) is a blur of the sharp pixels around (i, j).
    pair = synthesize_pair(margin, motion_blur.random_motion_kernel(k, seed=4))
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    mass = pair.blurry[0]
    centre = (float((mass * ys).sum() / mass.sum()), float((mass * xs).sum() / mass.sum()))
    assert abs(centre[0] - 6) <= 0.5 and abs(centre[1] - 11) <= 0.5
    with pytest.raises(ValueError, match="odd"):
        synthesize_pair(margin, torch.ones(4, 4) / 16)


SMALL = {"image_size": 32, "kernel_size": 7, "pairs_per_image": 2, "noise_sigma": 0.01, "val_images": 1}


def test_synthetic_splits_recompute_exactly_and_repeat():
    train, val = synthetic_splits(images=["camera", "coins", "coffee"], seed=3, **SMALL)
    assert [p.name for p in train] == [
        f"camera/seed{kernel_seed(3, 'train', 0)}",
        f"camera/seed{kernel_seed(3, 'train', 1)}",
        f"coins/seed{kernel_seed(3, 'train', 2)}",
        f"coins/seed{kernel_seed(3, 'train', 3)}",
    ]
    assert [p.source for p in val] == ["coffee", "coffee"]
    for pair in train + val:
        assert pair.blurry.shape == pair.sharp.shape and pair.blurry.shape[-2:] == (32, 32)
        margin = fit_square(load_skimage(pair.source), 32 + 7 - 1)
        kernel = motion_blur.random_motion_kernel(7, pair.kernel_seed)
        assert torch.equal(pair.kernel, kernel)
        assert torch.equal(pair.blurry, motion_blur.blur(margin, kernel, 0.01, pair.kernel_seed))
        assert torch.equal(pair.sharp, center_crop(margin, 32, 32))
        assert float(pair.blurry.min()) >= 0 and float(pair.blurry.max()) <= 1

    again_train, again_val = synthetic_splits(images=["camera", "coins", "coffee"], seed=3, **SMALL)
    assert all(torch.equal(a.blurry, b.blurry) for a, b in zip(train + val, again_train + again_val))
    other, _ = synthetic_splits(images=["camera", "coins", "coffee"], seed=4, **SMALL)
    assert not torch.equal(other[0].kernel, train[0].kernel)


def test_synthetic_train_and_val_are_disjoint():
    train, val = synthetic_splits(images=["camera", "coins", "moon", "coffee"], **{**SMALL, "val_images": 2})
    assert {p.source for p in train} == {"camera", "coins"} and {p.source for p in val} == {"moon", "coffee"}
    train_seeds, val_seeds = {p.kernel_seed for p in train}, {p.kernel_seed for p in val}
    assert len(train_seeds) == 4 and len(val_seeds) == 4 and not train_seeds & val_seeds
    assert all(s % 2 == 0 for s in train_seeds) and all(s % 2 == 1 for s in val_seeds)
    with pytest.raises(ValueError, match="val_images"):
        synthetic_splits(images=["camera"], **SMALL)
    with pytest.raises(ValueError, match="more than once"):
        synthetic_splits(images=["camera", "camera"], **SMALL)
    with pytest.raises(PairedDataError, match="no_such_image"):
        synthetic_splits(images=["camera", "no_such_image"], **SMALL)


def test_synthetic_pairs_from_a_folder_of_any_size(tmp_path):
    write_png(tmp_path / "photos" / "b.png", 60, 90)
    write_png(tmp_path / "photos" / "a.jpg", 20, 30)  # smaller than needed: enlarged
    write_png(tmp_path / "photos" / "sub" / "c.png", 50, 50, gray=True)
    train, val = synthetic_splits(sharp_dir=tmp_path / "photos", **{**SMALL, "pairs_per_image": 1})
    assert [p.source for p in train] == ["a.jpg", "b.png"] and [p.source for p in val] == ["sub/c.png"]
    assert train[0].blurry.shape == (3, 32, 32) and val[0].blurry.shape == (1, 32, 32)
    (tmp_path / "photos" / "broken.png").write_bytes(b"nope")
    with pytest.raises(PairedDataError, match="broken.png"):
        synthetic_splits(sharp_dir=tmp_path / "photos", **SMALL)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PairedDataError, match="no images"):
        synthetic_splits(sharp_dir=tmp_path / "empty", **SMALL)


# ---------------------------------------------------------------- DataModules

LOADER = {"num_workers": 0, "pin_memory": False}


def test_gopro_datamodule_batches(tmp_path):
    root = make_gopro(tmp_path / "GOPRO_Large")
    dm = GoProDataModule(str(root), batch_size=2, crop_size=16, **LOADER)
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert len(batches) == 2  # 5 pairs, drop_last
    batch = batches[0]
    assert batch["blurry"].shape == batch["sharp"].shape == (2, 3, 16, 16)
    assert batch["blurry"].dtype == torch.float32 and len(batch["name"]) == 2
    val = list(dm.val_dataloader())
    assert [b["name"][0] for b in val] == [f"GOPR0384_11_00/{i:06d}.png" for i in range(1, 5)]  # val = test split
    assert val[0]["blurry"].shape == (1, 3, H, W)
    expected = torch.from_numpy(np.array(Image.open(root / "test" / "GOPR0384_11_00" / "blur_gamma" / "000001.png")))
    assert torch.allclose(val[0]["blurry"][0], expected.permute(2, 0, 1).float() / 255)

    dm = GoProDataModule(str(root), blur_folder="blur", val_batch_size=2, val_max_images=2, **LOADER)
    dm.setup("validate")
    assert dm.train_set is None
    (batch,) = list(dm.val_dataloader())
    assert batch["name"] == ["GOPR0384_11_00/000001.png", "GOPR0384_11_00/000003.png"]
    expected = torch.from_numpy(np.array(Image.open(root / "test" / "GOPR0384_11_00" / "blur" / "000001.png")))
    assert torch.allclose(batch["blurry"][0], expected.permute(2, 0, 1).float() / 255)
    dm.setup("test")
    assert len(dm.test_dataloader()) == 2  # the test set is never capped


def test_datamodule_checks_data_at_setup(tmp_path):
    root = make_gopro(tmp_path / "GOPRO_Large")
    bad = root / "train" / "GOPR0372_07_00" / "sharp" / "000001.png"
    bad.write_bytes(b"broken")
    dm = GoProDataModule(str(root), batch_size=2, crop_size=16, **LOADER)  # building is cheap and lazy
    with pytest.raises(PairedDataError, match=str(bad)):
        dm.setup("fit")
    good = str(make_gopro(tmp_path / "good"))
    with pytest.raises(PairedDataError, match="smaller than crop_size 64"):
        GoProDataModule(good, batch_size=2, crop_size=64, **LOADER).setup("fit")
    with pytest.raises(ValueError, match="fewer than batch_size"):
        GoProDataModule(good, batch_size=8, crop_size=16, **LOADER).setup("fit")


def test_reds_datamodule_batches(tmp_path):
    root = make_reds(tmp_path / "REDS")
    dm = REDSDataModule(str(root), batch_size=5, crop_size=8, augment=True, channel_shuffle=True, **LOADER)
    dm.setup("fit")
    (batch,) = list(dm.train_dataloader())
    assert batch["blurry"].shape == (5, 3, 8, 8)
    assert sorted(batch["name"]) == [p.name for p in reds_pairs(root, "train")]
    assert [b["name"][0] for b in dm.val_dataloader()] == ["000/00000000.png", "000/00000001.png"]


def test_synthetic_datamodule_trains_with_lightning():
    dm = SyntheticPairsDataModule(
        images=["camera", "coins", "coffee"],
        image_size=32,
        kernel_size=7,
        pairs_per_image=2,
        val_images=1,
        batch_size=2,
        crop_size=16,
        noise_sigma=0.01,
        **LOADER,
    )

    class Identity(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.shapes = []

        def training_step(self, batch, _):
            self.shapes.append(tuple(batch["blurry"].shape))
            return (self.conv(batch["blurry"]) - batch["sharp"]).abs().mean()

        def validation_step(self, batch, _):
            self.shapes.append(tuple(batch["sharp"].shape))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    model = Identity()
    trainer = pl.Trainer(
        max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.fit(model, datamodule=dm)
    assert (2, 3, 16, 16) in model.shapes and (1, 3, 32, 32) in model.shapes
    assert {dm.val_set[i]["name"].split("/")[0] for i in range(len(dm.val_set))} == {"coffee"}
    dm.setup("test")
    assert [b["name"] for b in dm.test_dataloader()] == [[p.name] for p in dm.pairs("val")]
