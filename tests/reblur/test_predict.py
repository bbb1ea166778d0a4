"""``reblur predict`` on a folder of photos: outputs per input, skipping done ones, unreadable files, sharing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from deblur_core.image_io import read_image
from reblur.cli import main
from reblur.data import RankShare, SyntheticPairsDataModule
from reblur.networks import UNet
from reblur.prediction_writer import UNREADABLE_INPUTS_STATUS, UNREADABLE_LIST
from tests.helpers import REBLUR_TINY as TINY
from tests.helpers import command_error

RNG = np.random.default_rng(0)
# name: (height, width, gray)
PHOTOS = {"a.png": (37, 53, False), "sub/deeper/b.jpg": (40, 33, False), "sub/gray.png": (29, 31, True)}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fit")
    quick = ["--trainer.max_steps", "2", "--trainer.limit_val_batches", "0", "--checkpoint.monitor", "null"]
    main(["fit", "--config", TINY, "--trainer.default_root_dir", str(root), *quick])
    return root / "checkpoints" / "last.ckpt"


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    for name, (height, width, gray) in PHOTOS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # Smooth content, so that JPEG's own losses stay small next to the tolerance below.
        ramp = np.add.outer(np.arange(height), np.arange(width)) * 3 % 256
        array = ramp if gray else np.stack([ramp, ramp[::-1], 255 - ramp], axis=-1)
        Image.fromarray(array.astype(np.uint8)).save(path, **({"quality": 100} if name.endswith(".jpg") else {}))
    (folder / ".hidden.png").write_bytes(b"not an image, and ignored: dot file")
    return folder


def predict(checkpoint: Path, photos: Path, out: Path, *extra: str) -> None:
    args = ["predict", "--config", TINY, "--ckpt_path", str(checkpoint), "--data.predict_dir", str(photos)]
    main([*args, "--output_dir", str(out), "--trainer.default_root_dir", str(out.parent / "logs"), *extra])


def deblur_net(checkpoint: Path) -> UNet:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    net = UNet(channels=(8, 16))
    net.load_state_dict({k.removeprefix("deblur_net."): v for k, v in state.items() if k.startswith("deblur_net.")})
    return net.eval()


def outputs(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def test_predict_writes_each_photo_at_its_size_with_the_networks_values(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "out"
    predict(checkpoint, photos, out)
    assert outputs(out) == set(PHOTOS)
    assert "wrote 3 image(s)" in capsys.readouterr().out
    net = deblur_net(checkpoint)
    for name, (height, width, gray) in PHOTOS.items():
        written = read_image(out / name)
        assert written.shape == (1 if gray else 3, height, width), name
        with torch.no_grad():
            expected = net(read_image(photos / name).expand(3, -1, -1)[None])[0].clamp(0, 1)
        expected = expected.mean(0, keepdim=True) if gray else expected
        error = (written - expected).abs()
        if name.endswith(".png"):  # lossless: only the rounding to 8 bits
            assert error.max() <= 0.5 / 255 + 1e-6, name
        else:  # JPEG at quality 95
            assert error.mean() <= 1 / 255 and error.max() <= 8 / 255, name


def test_existing_outputs_are_kept_unless_overwrite(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "out"
    predict(checkpoint, photos, out)
    capsys.readouterr()
    # Mark one output, and break its input: a skipped input must not even be read.
    marked = out / "a.png"
    Image.fromarray(np.zeros((37, 53, 3), np.uint8)).save(marked)
    marked_bytes = marked.read_bytes()
    (photos / "a.png").write_bytes(b"corrupt now")
    before = {name: (out / name).stat().st_mtime_ns for name in PHOTOS}
    (out / UNREADABLE_LIST).write_text("old.png\tfrom an earlier run\n")

    predict(checkpoint, photos, out)
    printed = capsys.readouterr().out
    assert "wrote 0 image(s)" in printed and "kept 3 existing" in printed and "unreadable" not in printed
    assert {name: (out / name).stat().st_mtime_ns for name in PHOTOS} == before
    assert marked.read_bytes() == marked_bytes
    assert not (out / UNREADABLE_LIST).exists()  # stale: this run found no unreadable file

    (photos / "a.png").unlink()
    predict(checkpoint, photos, out, "--overwrite")
    assert "wrote 2 image(s)" in capsys.readouterr().out
    assert all((out / name).stat().st_mtime_ns != before[name] for name in PHOTOS if name != "a.png")


def test_unreadable_files_are_listed_and_the_others_written(checkpoint, photos, tmp_path, capsys):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (photos / "sub" / "empty.jpg").write_bytes(b"")
    out = tmp_path / "out"
    # A GOPRO config whose dataset root is missing: predicting on a folder needs only that folder.
    gopro = ["--data", "reblur.data.GoProDataModule", "--data.root", str(tmp_path / "no_gopro")]
    with pytest.raises(SystemExit) as exit_info:
        predict(checkpoint, photos, out, *gopro)
    assert exit_info.value.code == UNREADABLE_INPUTS_STATUS == 3  # documented: readable inputs written, some skipped
    printed = capsys.readouterr().out
    assert "2 unreadable input(s)" in printed and "broken.png" in printed and "sub/empty.jpg" in printed
    assert outputs(out) == set(PHOTOS) | {UNREADABLE_LIST}
    listed = (out / UNREADABLE_LIST).read_text().splitlines()
    assert [line.split("\t")[0] for line in listed] == ["broken.png", "sub/empty.jpg"]


def test_refuses_missing_or_nested_output_dir(checkpoint, photos, tmp_path, capsys):
    args = ["predict", "--config", TINY, "--ckpt_path", str(checkpoint), "--data.predict_dir", str(photos)]
    line = command_error(capsys, main, args, status=2)
    assert line == "reblur: error: --data.predict_dir needs --output_dir: where should the deblurred photos go?"
    line = command_error(capsys, lambda _: predict(checkpoint, photos, photos / "out"), [], status=2)
    assert line == f"reblur: error: output_dir '{photos / 'out'}' must not lie inside predict_dir '{photos}'"
    assert not (photos / "out").exists()


def test_rank_shares_are_disjoint_and_cover_every_image_once():
    for count in range(6):
        for world in (1, 2, 3):
            shares = [list(RankShare(range(count), num_replicas=world, rank=r)) for r in range(world)]
            assert sorted(i for share in shares for i in share) == list(range(count))
            assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_datamodule_serves_each_rank_its_share_without_skipped_photos(photos):
    data = SyntheticPairsDataModule(predict_dir=str(photos), num_workers=0, persistent_workers=False)
    data.setup("predict")  # the synthetic pairs are not made: predict needs only the folder
    assert data.predict_names() == sorted(PHOTOS) and data.test_set is None
    data.skip_predictions(["a.png"])
    served = []
    for rank in (0, 1):
        data.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        served.append([name for batch in data.predict_dataloader() for name in batch["name"]])
    assert served == [["sub/deeper/b.jpg"], ["sub/gray.png"]]


def test_two_process_predict_writes_each_photo_once(checkpoint, photos, tmp_path):
    for i in range(3):  # 6 photos: 3 per rank
        Image.fromarray(RNG.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)).save(photos / f"more{i}.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "reblur.cli", "predict", "--config", TINY, "--ckpt_path", str(checkpoint)]
    command += ["--data.predict_dir", str(photos), "--output_dir", str(out), "--trainer.devices", "2"]
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "WORLD_SIZE", "RANK")}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert outputs(out) == set(PHOTOS) | {f"more{i}.png" for i in range(3)}
    # Reported once, by rank 0, with the counts of both ranks.
    assert result.stdout.count("predict: wrote 6 image(s)") == 1, result.stdout


def reblur_net(checkpoint: Path):
    from reblur.networks import ReblurringModule

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    net = ReblurringModule(1, channels=8, kernel_size=3)
    net.load_state_dict({k.removeprefix("reblur_net."): v for k, v in state.items() if k.startswith("reblur_net.")})
    return net.eval()


def test_predict_with_adapt_writes_the_adapted_networks_output(checkpoint, photos, tmp_path):
    from reblur.adaptation import adapt

    out = tmp_path / "adapted"
    predict(checkpoint, photos, out, "--adapt", "--tta.steps", "3", "--tta.lr", "1e-2")
    image = read_image(photos / "a.png")[None]
    expected = adapt(deblur_net(checkpoint), reblur_net(checkpoint), image, steps=3, lr=1e-2).output.clamp(0, 1)
    with torch.no_grad():
        unadapted = deblur_net(checkpoint)(image).clamp(0, 1)
    written = read_image(out / "a.png")[None]
    assert (written - expected).abs().max().item() <= 0.5 / 255 + 1e-6
    assert (expected - unadapted).abs().max().item() > 2 / 255  # the adaptation did change the output


def test_test_with_adapt_logs_the_self_reblurring_loss_before_and_after(checkpoint, tmp_path):
    root = tmp_path / "logs"
    args = ["test", "--config", TINY, "--ckpt_path", str(checkpoint), "--trainer.default_root_dir", str(root)]
    main([*args, "--adapt", "true", "--tta.steps", "2", "--tta.lr", "1e-3", "--tta.per", "batch"])
    metrics = (next(root.rglob("metrics.csv"))).read_text()
    assert "test/tta_loss_before" in metrics and "test/tta_loss_after" in metrics
    with pytest.raises(SystemExit):  # adaptation options belong to test and predict only
        main(["fit", "--config", TINY, "--adapt", "true"])
