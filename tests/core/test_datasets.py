"""``deblur_core.datasets``: the registry against the shipped files, verify's problem lines, downloads from local
``file://`` archives (zip, tar, several archives, checksums, atomic replacement, offline), the command line."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from deblur_core.datasets import (
    DATASETS,
    Archive,
    DatasetError,
    DatasetSpec,
    OfflineError,
    TargetExistsError,
    download,
    sha256_file,
    verify,
)
from deblur_core.datasets.cli import main
from deblur_core.datasets.verify import matching
from tests.helpers import REPO, command_error, shared_data

DATA = REPO / "data"
LEVIN = DATASETS["levin"]
TINY_FILES = {"a/x.png": b"x-bytes", "a/y.png": b"y-bytes", "b.txt": b"b-bytes"}


def _tiny(*archives: Archive) -> DatasetSpec:
    """A three-file set whose every file has a recorded SHA-256."""
    return DatasetSpec(
        name="tiny",
        title="a tiny set",
        citation="nobody, 2024",
        page="https://example.org/tiny",
        licence="none",
        layout=(("a/*.png", 2), ("b.txt", 1)),
        archives=archives,
        sha256={path: hashlib.sha256(data).hexdigest() for path, data in TINY_FILES.items()},
    )


def _zip(path: Path, files: dict[str, bytes], prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(prefix + name, data)
    return path


def _tgz(path: Path, files: dict[str, bytes], prefix: str = "") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- registry -----------------------------------------------------------------------------------------------


def test_every_spec_says_where_it_comes_from_and_how_it_is_laid_out():
    assert set(DATASETS) == {"levin", "real", "niqe", "lpips", "lai", "kodak24", "bsds500", "gopro", "reds"}
    for spec in DATASETS.values():
        assert spec.page.startswith(("http://", "https://")), spec.name
        assert spec.citation and spec.licence and spec.layout, spec.name
        assert all(count > 0 and not pattern.startswith("/") for pattern, count in spec.layout), spec.name
        # Every download goes somewhere, or the set says it is shipped or placed by hand.
        assert bool(spec.archives) != (spec.shipped or spec.manual), spec.name
        assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in spec.sha256.values()), spec.name
    with pytest.raises(TypeError):
        LEVIN.sha256["gt/im1.png"] = "0" * 64  # frozen all the way down


@pytest.mark.parametrize("name", [n for n, s in DATASETS.items() if s.shipped])
def test_shipped_checksums_are_those_of_the_files_in_data(name):
    spec, root = DATASETS[name], DATA / name
    files = {path for pattern, _ in spec.layout for path in matching(root, pattern)}
    assert files == set(spec.sha256), "every shipped file, and only those, has a recorded sum"
    assert len(files) == spec.file_count
    assert {path: _sha(root / path) for path in files} == dict(spec.sha256)


def test_registry_counts_follow_the_published_layouts():
    gopro, reds, bsds = DATASETS["gopro"], DATASETS["reds"], DATASETS["bsds500"]
    assert dict(gopro.layout)["train/*/"] == 22 and dict(gopro.layout)["train/*/sharp/*.png"] == 2103
    assert dict(gopro.layout)["test/*/"] == 11 and dict(gopro.layout)["test/*/blur_gamma/*.png"] == 1111
    assert dict(reds.layout)["train/train_blur/*/*.png"] == 240 * 100 and dict(reds.layout)["val/val_sharp/*/"] == 30
    assert [a.filename for a in reds.archives] == ["train_blur.zip", "train_sharp.zip", "val_blur.zip", "val_sharp.zip"]
    assert bsds.archives[0].sha256 is None and bsds.archives[0].member == "BSR/BSDS500/data/images"
    assert all(path.startswith("test/") for path in bsds.sha256) and len(bsds.sha256) == 200
    assert DATASETS["lai"].manual and not DATASETS["lai"].archives


# --- verify -------------------------------------------------------------------------------------------------


@pytest.fixture
def levin_copy(tmp_path) -> Path:
    return Path(shutil.copytree(DATA / "levin", tmp_path / "levin"))


def test_verify_passes_on_the_shipped_levin():
    report = verify(LEVIN, DATA / "levin")
    assert report.ok, report.problems
    assert report.hashed == 44 and [found for _, _, found in report.counts] == [32, 4, 8]
    assert "OK" in report.summary()


def test_verify_names_a_missing_file(levin_copy):
    (levin_copy / "gt" / "kernel3.png").unlink()
    report = verify(LEVIN, levin_copy)
    assert not report.ok
    assert "'gt/kernel*.png': 7 files match, expected 8" in report.problems
    assert any(line.startswith("gt/kernel3.png: missing") for line in report.problems)


def test_verify_names_an_extra_file(levin_copy):
    shutil.copy(levin_copy / "gt" / "im1.png", levin_copy / "gt" / "im5.png")
    report = verify(LEVIN, levin_copy)
    assert "'gt/im*.png': 5 files match, expected 4" in report.problems
    assert any(line.startswith("gt/im5.png: not one of the 4 recorded files") for line in report.problems)


def test_verify_names_a_changed_byte_and_the_expected_sum(levin_copy):
    path = levin_copy / "im2_kernel3_img.png"
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    report = verify(LEVIN, levin_copy)
    assert len(report.problems) == 1
    assert report.problems[0].startswith("im2_kernel3_img.png: SHA-256 ")
    assert report.problems[0].endswith(LEVIN.sha256["im2_kernel3_img.png"])


def test_verify_ignores_hidden_and_unrelated_files(levin_copy):
    (levin_copy / ".DS_Store").write_bytes(b"")
    (levin_copy / "gt" / "._im1.png").write_bytes(b"mac resource fork")
    (levin_copy / "notes.txt").write_text("mine")
    assert verify(LEVIN, levin_copy).ok


def test_verify_lists_twenty_problems_then_a_count(levin_copy, capsys):
    for path in levin_copy.glob("im*_kernel*_img.png"):
        path.unlink()
    assert main(["verify", "levin", "--path", str(levin_copy)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("33 problems")  # the count, and 32 missing files
    assert len(out) == 1 + 20 + 1 and out[-1].strip() == "... and 13 more"


def test_verify_a_missing_folder_and_a_part_of_a_set(tmp_path):
    report = verify(LEVIN, tmp_path / "nowhere")
    assert not report.ok and "nowhere" in report.problems[0]
    bsds, test = DATASETS["bsds500"], tmp_path / "test"
    test.mkdir()
    report = verify(bsds, test, subset="test")
    assert [(p, n) for p, n, _ in report.counts] == [("*.jpg", 200)]
    assert "'*.jpg': 0 files match, expected 200" in report.problems
    with pytest.raises(ValueError, match="not a part of bsds500"):
        verify(bsds, test, subset="nope")


# --- download -----------------------------------------------------------------------------------------------


def test_download_zip_from_a_file_url_wrapped_in_one_folder(tmp_path):
    archive = _zip(tmp_path / "tiny.zip", TINY_FILES, prefix="tiny-1.0/")
    spec = _tiny(Archive("tiny.zip", archive.as_uri(), sha256=_sha(archive)))
    report = download(spec, tmp_path / "data" / "tiny")
    assert report.ok and report.hashed == 3
    assert (tmp_path / "data" / "tiny" / "a" / "x.png").read_bytes() == b"x-bytes"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["tiny"]  # no staging folder, no .part


def test_download_tar_takes_the_named_member_as_root(tmp_path):
    archive = _tgz(tmp_path / "tiny.tgz", {**TINY_FILES, "../README": b"-"}, prefix="pkg/data/")
    spec = _tiny(Archive("tiny.tgz", archive.as_uri(), extract="tar", member="pkg/data"))
    assert download(spec, tmp_path / "data" / "tiny").ok
    assert not (tmp_path / "data" / "tiny" / "README").exists()  # 'pkg/README' is outside the member


def test_download_refuses_a_tar_member_outside_the_folder(tmp_path):
    archive = _tgz(tmp_path / "evil.tgz", {"../../evil.txt": b"x"})
    spec = _tiny(Archive("evil.tgz", archive.as_uri(), extract="tar"))
    with pytest.raises(DatasetError, match="evil.tgz cannot be extracted"):
        download(spec, tmp_path / "data" / "tiny")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "data" / "tiny").exists()


def test_tar_members_are_checked_without_the_extraction_filter_of_newer_pythons(tmp_path, monkeypatch):
    # Python 3.11.2 (Debian 12's) has no tarfile.data_filter: the same archives must be kept or refused.
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = _tgz(tmp_path / "tiny.tgz", {**TINY_FILES, "../README": b"-"}, prefix="pkg/data/")
    spec = _tiny(Archive("tiny.tgz", archive.as_uri(), extract="tar", member="pkg/data"))
    assert download(spec, tmp_path / "data" / "tiny").ok
    assert (tmp_path / "data" / "tiny" / "a" / "x.png").read_bytes() == b"x-bytes"
    evil = _tgz(tmp_path / "evil.tgz", {"../../evil.txt": b"x"})
    with pytest.raises(DatasetError, match="evil.tgz cannot be extracted.*outside the folder"):
        download(_tiny(Archive("evil.tgz", evil.as_uri(), extract="tar")), tmp_path / "data" / "other")
    assert not (tmp_path / "evil.txt").exists()
    with tarfile.open(tmp_path / "link.tgz", "w:gz") as out:
        link = tarfile.TarInfo("a/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        out.addfile(link)
    with pytest.raises(DatasetError, match="link 'a/escape' points outside"):
        download(_tiny(Archive("link.tgz", (tmp_path / "link.tgz").as_uri(), extract="tar")), tmp_path / "data" / "l")


def test_download_merges_several_archives_from_a_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _zip(mirror / "part_a.zip", {"a/x.png": TINY_FILES["a/x.png"], "a/y.png": TINY_FILES["a/y.png"]})
    (mirror / "b.txt").write_bytes(TINY_FILES["b.txt"])
    spec = _tiny(
        Archive("part_a.zip", "https://example.org/part_a.zip"), Archive("b.txt", "https://x/b.txt", extract="none")
    )
    report = download(spec, tmp_path / "data" / "tiny", mirror=mirror.as_uri())
    assert report.ok and report.hashed == 3
    with pytest.raises(ValueError, match="one per archive"):
        download(spec, tmp_path / "data" / "other", urls=["file:///only-one.zip"])


def test_download_wrong_archive_checksum_names_it_and_leaves_nothing(tmp_path):
    archive = _zip(tmp_path / "tiny.zip", TINY_FILES)
    spec = _tiny(Archive("tiny.zip", archive.as_uri(), sha256="0" * 64))
    with pytest.raises(DatasetError, match=r"archive tiny\.zip from .*recorded 0{64}; nothing was written") as err:
        download(spec, tmp_path / "data" / "tiny")
    assert str(tmp_path / "data" / "tiny") in str(err.value)
    assert list((tmp_path / "data").iterdir()) == []


def test_download_refuses_to_overwrite_unless_forced_and_replaces_atomically(tmp_path):
    archive = _zip(tmp_path / "tiny.zip", TINY_FILES)
    spec = _tiny(Archive("tiny.zip", archive.as_uri()))
    target = tmp_path / "data" / "tiny"
    download(spec, target)
    (target / "mine.txt").write_text("kept until --force")
    with pytest.raises(TargetExistsError, match="verifies: nothing to do") as err:
        download(spec, target, urls=[(tmp_path / "gone.zip").as_uri()])  # not fetched at all
    assert err.value.complete
    (target / "b.txt").unlink()
    with pytest.raises(TargetExistsError, match="not a complete tiny") as err:
        download(spec, target)
    assert not err.value.complete
    # A forced download that fails half-way leaves the old folder as it was.
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="cannot be extracted"):
        download(spec, target, urls=[bad.as_uri()], force=True)
    assert (target / "mine.txt").exists() and not (target / "b.txt").exists()
    assert download(spec, target, force=True).ok
    assert not (target / "mine.txt").exists() and _leftovers(target.parent) == []


def test_download_offline_says_where_to_put_the_files(tmp_path, capsys):
    for url in ("http://127.0.0.1:9/GOPRO_Large.zip", (tmp_path / "absent.zip").as_uri()):
        err = command_error(capsys, main, ["download", "gopro", "--root", str(tmp_path / "data"), "--url", url], 1)
        assert err.startswith("deblur-datasets: error: could not fetch " + url)
        assert str((tmp_path / "data" / "GOPRO_Large").absolute()) in err  # the folder the GOPRO configs read
        assert DATASETS["gopro"].page in err and "deblur-datasets verify gopro" in err
        assert not (tmp_path / "data" / "gopro").exists() and _leftovers(tmp_path / "data") == []
    with pytest.raises(OfflineError):
        download(DATASETS["gopro"], tmp_path / "g", urls=["http://127.0.0.1:9/x.zip"])


def test_download_of_a_manual_set_prints_the_steps(tmp_path, capsys):
    err = command_error(capsys, main, ["download", "lai", "--root", str(tmp_path)], status=1)
    assert DATASETS["lai"].page in err and "uniform/*_kernel_*.png (100)" in err


def test_download_levin_from_a_zip_of_the_shipped_copy(tmp_path, capsys):
    archive = tmp_path / "levin.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in (DATA / "levin").rglob("*"):
            z.write(path, "levin/" + path.relative_to(DATA / "levin").as_posix())
    root = tmp_path / "data"
    assert main(["download", "levin", "--root", str(root)]) == 0  # shipped: nothing to fetch without --url
    assert "shipped with the repository" in capsys.readouterr().out and not root.exists()
    assert main(["download", "levin", "--root", str(root), "--url", archive.as_uri()]) == 0
    assert capsys.readouterr().out.strip().endswith("44 SHA-256 sums compared: OK")
    assert verify(LEVIN, root / "levin").ok
    assert main(["download", "levin", "--root", str(root), "--url", archive.as_uri()]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_download_reports_each_file_whose_bytes_differ(tmp_path, capsys):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for i in range(1, 25):
        (mirror / f"kodim{i:02d}.png").write_bytes(b"another encoding %d" % i)
    assert main(["download", "kodak24", "--root", str(tmp_path / "data"), "--mirror", mirror.as_uri()]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("24 problems") and out[1].strip().startswith("kodim01.png: SHA-256 ")
    assert out[1].endswith(DATASETS["kodak24"].sha256["kodim01.png"]) and out[-1].strip() == "... and 4 more"
    assert len(list((tmp_path / "data" / "kodak24").glob("kodim*.png"))) == 24  # in place, flagged


# --- command line -------------------------------------------------------------------------------------------


def test_help_exits_0_without_importing_torch(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "download" in capsys.readouterr().out
    code = "import sys, deblur_core.datasets.cli as c; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == "False"


def test_list_mentions_every_set_and_what_is_present(capsys):
    assert main(["list", "--root", str(DATA)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[0] for line in lines] == list(DATASETS)
    rows = {line.split()[0]: line for line in lines}
    assert "shipped" in rows["levin"] and "present" in rows["levin"]
    assert "absent" in rows["gopro"] and "by hand" in rows["lai"]


def test_where_prints_the_page_layout_and_manual_steps(capsys, tmp_path):
    assert main(["where", "reds", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    spec = DATASETS["reds"]
    assert spec.page in out and str(tmp_path / "REDS") in out and "by hand:" in out
    assert all(pattern in out for pattern, _ in spec.layout)
    assert all(archive.url in out for archive in spec.archives)


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "gopr"],
        ["where"],
        ["frobnicate"],
        ["verify", "bsds500", "--subset", "nope"],
        ["download", "reds", "--url", "file:///a.zip"],
        ["download", "gopro", "--url", "file:///a.zip", "--mirror", "file:///m"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and captured.out == "" and captured.err.count("\n") == 1
    assert re.match(r"deblur-datasets( \w+)?: error: ", captured.err), captured.err


# --- the larger sets, where this project's machines have them ------------------------------------------------


@pytest.mark.reference
def test_shared_lai_matches_the_registry():
    report = verify(DATASETS["lai"], shared_data("lai"))
    assert report.ok, report.problems
    assert report.hashed == 129


@pytest.mark.reference
def test_shared_kodak24_matches_the_registry_and_downloads_from_a_mirror(tmp_path):
    folder = shared_data("sharp/kodak24")
    assert verify(DATASETS["kodak24"], folder).ok
    report = download(DATASETS["kodak24"], tmp_path / "kodak24", mirror=folder.as_uri())
    assert report.ok and report.hashed == 24


@pytest.mark.reference
def test_shared_bsds500_test_split_matches_the_registry():
    report = verify(DATASETS["bsds500"], shared_data("sharp/bsds500_test"), subset="test")
    assert report.ok, report.problems
    assert report.hashed == 200
    assert (
        sha256_file(shared_data("sharp/bsds500_test") / "100007.jpg") == DATASETS["bsds500"].sha256["test/100007.jpg"]
    )
