"""Bad input to ``selfdeblur``: one line naming the file or option, a non-zero exit status, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from selfdeblur.cli import main
from tests.helpers import REPO, command_error
from tests.helpers import SELFDEBLUR_TINY as TINY

QUIET = ["--trainer.logger", "false"]


def test_truncated_image_names_the_file(tmp_path, capsys):
    truncated = tmp_path / "photo.png"
    truncated.write_bytes((REPO / "data" / "levin" / "im1_kernel1_img.png").read_bytes()[:3000])
    args = ["fit", "--config", TINY, "--data.synthetic", "null", "--data.images", str(truncated), *QUIET]
    line = command_error(capsys, main, args, status=1)
    assert line == f"selfdeblur: error: cannot read image '{truncated}': image file is truncated"


@pytest.mark.parametrize(
    ("options", "status", "names"),
    [
        (["--model.optimization.steps", "abc"], 2, "--model.optimization.steps"),  # rejected by the parser
        (["--model.optimization.steps", "0"], 2, "model.optimization.steps must be a positive integer"),
        (["--model.compute.blur_method", "fast"], 2, "--model.compute.blur_method"),
        (["--model.optimisation.steps", "3"], 2, "unrecognized arguments: --model.optimisation.steps"),
        (["--data.images_per_group", "0"], 2, "data.images_per_group must be >= 1"),
    ],
)
def test_bad_option_values_name_the_option(capsys, options, status, names):
    line = command_error(capsys, main, ["fit", "--config", TINY, *options, *QUIET], status=status)
    assert line.startswith("selfdeblur") and names in line


def test_missing_data_names_the_path(tmp_path, capsys):
    args = ["fit", "--config", TINY, "--data.synthetic", "null", "--data.images", str(tmp_path / "nowhere"), *QUIET]
    line = command_error(capsys, main, args, status=1)
    assert line == f"selfdeblur: error: data.images: no such file or folder: '{tmp_path / 'nowhere'}'"


def test_yaml_syntax_error_names_the_file_and_line(tmp_path, capsys):
    config = tmp_path / "broken.yaml"
    config.write_text("model:\n  optimization:\n    milestones: [1, 2\n")
    line = command_error(capsys, main, ["fit", "--config", str(config)], status=2)
    assert line.startswith(f"selfdeblur: error: --config '{config}': YAML syntax error at line 4, column 1")
    line = command_error(capsys, main, ["fit", "--config", str(tmp_path / "absent.yaml")], status=2)
    assert line == f"selfdeblur: error: --config '{tmp_path / 'absent.yaml'}': no such file"


def test_out_of_memory_is_one_line_with_what_to_change(capsys):
    args = ["fit", "--config", TINY, "--trainer.callbacks+=tests.callbacks.AllocateTooMuch", *QUIET]
    line = command_error(capsys, main, args, status=1)
    assert line.startswith("selfdeblur: error: out of memory (") and "can't allocate memory" in line
    assert "--data.images_per_group 1" in line  # what to change


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    line = command_error(capsys, main, ["evaluate", "--results", str(tmp_path / "none")], status=1)
    assert line == f"selfdeblur evaluate: error: --results: no such folder: '{tmp_path / 'none'}'"
    line = command_error(capsys, main, ["evaluate", "--results", str(tmp_path), "--dataset", "kodak"], status=2)
    assert line.startswith("selfdeblur evaluate: error: argument --dataset: invalid choice: 'kodak'")


def test_debug_shows_the_traceback(tmp_path):
    args = [sys.executable, "-m", "selfdeblur.cli", "evaluate", "--results", str(tmp_path / "none")]
    quiet = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    loud = subprocess.run([*args, "--debug"], capture_output=True, text=True, cwd=tmp_path)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr and len(quiet.stderr.splitlines()) == 1
    assert loud.returncode == 1 and "Traceback (most recent call last)" in loud.stderr
    assert "FileNotFoundError: --results: no such folder" in loud.stderr


def _photo_folder(tmp_path):
    """A folder with one small grayscale image (Levin's, cropped) and a macOS resource fork beside it."""
    from deblur_core.image_io import read_image, save_image

    folder = tmp_path / "photos"
    folder.mkdir()
    save_image(folder / "a.png", read_image(REPO / "data" / "levin" / "im1_kernel1_img.png")[:, :40, :40])
    (folder / "._a.png").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    return folder


def _folder_args(folder, out):
    """``selfdeblur fit`` on the tiny config with ``folder``'s images (5 px kernels) into ``out``."""
    images = ["--data.synthetic", "null", "--data.images", str(folder), "--data.kernel_size", "5"]
    return ["fit", "--config", TINY, *images, "--output.dir", str(out), *QUIET]


def test_dot_files_beside_the_images_are_ignored(tmp_path, capsys):
    folder = _photo_folder(tmp_path)
    out = tmp_path / "out"
    main([*_folder_args(folder, out), "--model.optimization.steps", "1"])
    assert sorted(p.name for p in out.glob("*.png")) == ["a_deblurred.png", "a_kernel.png"]


@pytest.mark.parametrize("inside", [".", "results"])
def test_an_output_folder_inside_the_input_folder_is_refused_before_any_work(tmp_path, capsys, inside):
    folder = _photo_folder(tmp_path)
    out = folder / inside
    line = command_error(capsys, main, _folder_args(folder, out), status=1)
    assert line.startswith(f"selfdeblur: error: output.dir '{out}' is inside the input folder '{folder}'")
    assert not list(folder.rglob("*_deblurred.png"))


def test_an_unwritable_output_folder_is_found_before_any_work(tmp_path, capsys):
    import os

    if os.geteuid() == 0:
        # root writes anywhere; a file in the way of the folder is refused for everyone.
        out = tmp_path / "blocked" / "out"
        (tmp_path / "blocked").write_text("a file, not a folder")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "out"
    args = ["fit", "--config", TINY, "--output.dir", str(out), *QUIET]
    line = command_error(capsys, main, args, status=1)
    assert line.startswith(f"selfdeblur: error: output.dir '{out}' is not writable: ")


def test_a_decompression_bomb_names_the_file(tmp_path, capsys):
    from PIL import Image

    huge = tmp_path / "huge.png"
    # 20000 x 20000: above Pillow's limit of 2 x 89.5 megapixels. A 1-bit image keeps the file and the test small.
    Image.new("1", (20000, 20000)).save(huge)
    args = ["fit", "--config", TINY, "--data.synthetic", "null", "--data.images", str(huge), *QUIET]
    line = command_error(capsys, main, args, status=1)
    assert line.startswith(f"selfdeblur: error: image '{huge}' is too large to open safely (")
    assert line.endswith("downscale or crop it first")


def test_names_that_match_no_image_show_what_the_names_look_like(tmp_path, capsys):
    from selfdeblur.evaluate import main as evaluate

    args = ["fit", "--config", TINY, "--data.synthetic", "null", "--data.images", str(REPO / "data" / "levin")]
    line = command_error(capsys, main, [*args, "--data.layout", "levin", "--data.names", "[im1_kernel1]", *QUIET], 2)
    assert line == (
        f"selfdeblur: error: data.names: no image matches ['im1_kernel1'] in '{REPO / 'data' / 'levin'}' "
        "(its names look like 'im1_kernel1_img')"
    )
    results = ["--results", str(tmp_path), "--dataset", "levin", "--data", str(REPO / "data" / "levin")]
    line = command_error(capsys, evaluate, [*results, "--names", "im9_*"], 2)
    assert line.endswith("--names ['im9_*']: no image of the set matches (its names look like 'im1_kernel1_img')")
