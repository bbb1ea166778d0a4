"""Discovery of images and kernel sizes, the Levin layout, the step dataset, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from deblur_core.image_io import ImageReadError
from deblur_core.motion_blur import blur, random_motion_kernel
from selfdeblur.data import LEVIN_KERNEL_SIZES, GroupSteps, SelfDeblurDataModule, SyntheticBlur
from selfdeblur.data.images import scikit_image
from selfdeblur.kernel_io import read_kernel


def write_png(path, size=(40, 40), colour=False):
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    shape = (*size, 3) if colour else size
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)
    return path


def test_levin_layout(levin):
    dm = SelfDeblurDataModule(images=str(levin), layout="levin")
    dm.setup("fit")
    assert len(dm.images) == 32
    by_name = {i.name: i for i in dm.images}
    assert by_name["im1_kernel1_img"].kernel_size == 17
    assert [by_name[f"im2_kernel{k}_img"].kernel_size for k in range(1, 9)] == [17, 15, 13, 27, 11, 19, 21, 21]
    # Kernel files 4 and 8 are stored in convolution orientation, the others rotated (see orient_true_kernel).
    assert [by_name[f"im1_kernel{k}_img"].true_kernel_rotated for k in range(1, 9)] == [
        True, True, True, False, True, True, True, False,
    ]  # fmt: skip
    im3k4 = by_name["im3_kernel4_img"]
    assert im3k4.sharp == levin / "gt" / "im3.png"
    kernel = im3k4.load_true_kernel()
    assert kernel.shape == (27, 27) and torch.isclose(kernel.sum(), torch.tensor(1.0))
    torch.testing.assert_close(kernel, read_kernel(levin / "gt" / "kernel4.png"))
    torch.testing.assert_close(
        by_name["im3_kernel7_img"].load_true_kernel(), read_kernel(levin / "gt" / "kernel7.png").flip(0, 1)
    )
    assert im3k4.load().shape == im3k4.load_sharp().shape == (1, 255, 255)
    assert LEVIN_KERNEL_SIZES[4] == 27


def test_kernel_size_precedence(tmp_path):
    for name in ("a", "b", "c"):
        write_png(tmp_path / f"{name}.png")
    (tmp_path / "b.json").write_text(json.dumps({"kernel_size": 9}))
    (tmp_path / "c.json").write_text(json.dumps({"kernel_size": 9}))
    dm = SelfDeblurDataModule(images=str(tmp_path), kernel_size=5, kernel_sizes={"c": 11})
    dm.setup()
    assert {i.name: i.kernel_size for i in dm.images} == {"a": 5, "b": 9, "c": 11}


def test_list_of_files_and_recursive_names(tmp_path):
    write_png(tmp_path / "x" / "one.png")
    write_png(tmp_path / "x" / "sub" / "two.jpg", colour=True)
    dm = SelfDeblurDataModule(images=str(tmp_path / "x"), kernel_size=5, recursive=True)
    dm.setup()
    assert [i.name for i in dm.images] == ["one", "sub/two"]
    assert dm.images[1].load().shape[0] == 3
    dm = SelfDeblurDataModule(images=[str(tmp_path / "x" / "one.png")], kernel_size=5)
    dm.setup()
    assert [i.name for i in dm.images] == ["one"]
    with pytest.raises(ValueError, match="would both be written as 'one'"):
        SelfDeblurDataModule(images=[str(tmp_path / "x" / "one.png")] * 2).setup()


@pytest.mark.parametrize(
    ("kernel_size", "message"),
    [(4, "odd and >= 3"), (1, "odd and >= 3"), (41, "smaller than the image"), (39, None)],
)
def test_kernel_size_validation(tmp_path, kernel_size, message):
    write_png(tmp_path / "img.png", size=(40, 45))
    dm = SelfDeblurDataModule(images=str(tmp_path), kernel_size=kernel_size)
    if message is None:
        dm.setup()
        return
    with pytest.raises(ValueError, match=message) as info:
        dm.setup()
    assert "img.png" in str(info.value) and "data.kernel_size" in str(info.value)


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        SelfDeblurDataModule(images=str(tmp_path / "missing")).setup()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        SelfDeblurDataModule(images=str(tmp_path / "empty")).setup()
    write_png(tmp_path / "ok" / "good.png")
    (tmp_path / "ok" / "broken.png").write_bytes(b"garbage")
    with pytest.raises(ImageReadError, match="broken.png"):
        SelfDeblurDataModule(images=str(tmp_path / "ok"), kernel_size=5).setup()
    with pytest.raises(ValueError, match="not found.*nobody"):
        SelfDeblurDataModule(images=str(tmp_path / "ok" / "good.png"), kernel_sizes={"nobody": 5}).setup()
    (tmp_path / "ok" / "good.json").write_text("{oops")
    (tmp_path / "ok" / "broken.png").unlink()
    with pytest.raises(ValueError, match="good.json"):
        SelfDeblurDataModule(images=str(tmp_path / "ok")).setup()
    with pytest.raises(ValueError, match="data.images"):
        SelfDeblurDataModule()
    with pytest.raises(ValueError, match="images_per_group"):
        SelfDeblurDataModule(images="x", images_per_group=0)


def test_levin_ground_truth_size_mismatch(tmp_path):
    write_png(tmp_path / "im1_kernel1_img.png", size=(40, 40))
    write_png(tmp_path / "gt" / "im1.png", size=(41, 40))
    with pytest.raises(ValueError, match=r"gt/im1.png"):
        SelfDeblurDataModule(images=str(tmp_path), layout="levin").setup()


def test_synthetic_source():
    spec = SyntheticBlur(size=30, kernel_size=7, kernel_seed=3, noise_sigma=0.01)
    image = spec.make()
    assert image.load().shape == image.load_sharp().shape == (1, 30, 30)
    assert image.load_true_kernel().shape == (7, 7)
    torch.testing.assert_close(spec.make().load(), image.load())  # seeded


def test_group_steps_order(tmp_path):
    images = []
    for name in ("a", "b", "c"):
        write_png(tmp_path / f"{name}.png")
    dm = SelfDeblurDataModule(images=str(tmp_path), kernel_size=5, images_per_group=2)
    dm.setup()
    images = dm.images
    groups = dm.groups()
    assert [[i.name for i in g] for g in groups] == [["a", "b"], ["c"]]
    ds = GroupSteps(groups, steps=4, first_images=[1, 3], total=3)
    assert len(ds) == 8
    items = [ds[i] for i in range(len(ds))]
    assert [(b.group, b.step) for b in items] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert items[5].names == ["c"] and items[5].first_image == 3 and items[5].total_images == 3
    torch.testing.assert_close(items[0].blurry[1], images[1].load())
    assert items[1].blurry == [] and len(items[4].blurry) == 1  # images only at a group's first step
    dm.skip({"a"})
    assert [i.name for i in dm.images] == ["b", "c"] and dm.skipped == ["a"]


@pytest.mark.parametrize("stored_rotated", [False, True])
def test_levin_kernel_orientation_follows_the_blur(tmp_path, stored_rotated):
    """A Levin-layout tree whose kernel file is stored in either orientation: the loader returns the
    kernel that, convolved with the sharp image, gives the blurry image."""
    kernel = random_motion_kernel(9, seed=5)
    sharp_full = scikit_image("camera", 48, 0.25)
    blurry = blur(sharp_full, kernel)
    sharp = sharp_full[:, 4:-4, 4:-4]
    (tmp_path / "gt").mkdir()
    Image.fromarray((blurry[0].numpy() * 255).round().astype(np.uint8)).save(tmp_path / "im1_kernel1_img.png")
    Image.fromarray((sharp[0].numpy() * 255).round().astype(np.uint8)).save(tmp_path / "gt" / "im1.png")
    stored = kernel.flip(0, 1) if stored_rotated else kernel
    Image.fromarray((stored / stored.max() * 255).round().numpy().astype(np.uint8)).save(
        tmp_path / "gt" / "kernel1.png"
    )
    dm = SelfDeblurDataModule(images=str(tmp_path), layout="levin", kernel_sizes={"im1_kernel1_img": 9})
    dm.setup()
    (image,) = dm.images
    assert image.true_kernel_rotated == stored_rotated
    torch.testing.assert_close(image.load_true_kernel(), kernel, atol=3e-3, rtol=0)  # 8-bit file
