"""Bad input to ``reblur``: one line naming the file or option, a non-zero exit status, no traceback."""

from __future__ import annotations

import pytest
import torch

from reblur.cli import main
from tests.helpers import REBLUR_TINY as TINY
from tests.helpers import command_error


def test_missing_dataset_is_reported_before_training_with_the_layout(tmp_path, capsys):
    (tmp_path / "GOPRO_Large" / "train").mkdir(parents=True)
    args = [
        "fit",
        "--config",
        TINY,
        "--data",
        "reblur.data.GoProDataModule",
        "--data.root",
        str(tmp_path / "GOPRO_Large"),
    ]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err
    assert f"reblur: error: 1 problem in GOPRO_Large dataset '{tmp_path / 'GOPRO_Large'}'" in err
    assert "holds no sequence folders" in err  # the problem itself, on the line below (several are listed)


@pytest.mark.parametrize(
    ("options", "names"),
    [
        (["--model.evaluation.color", "ycbcr"], "--model.evaluation.color"),
        (["--model.evaluation.metrics", "[psnr, fid]"], "model.evaluation.metrics: unknown metric(s) ['fid']"),
        (["--model.loss.reblur_weight", "-1"], "model.loss.reblur_weight must be >= 0"),
        (["--model.deblur_updates.steps", "0"], "steps must be an integer >= 1"),
        (["--data.init_args.batch_size", "0"], "batch_size must be >= 1"),
        (["--model.reblur_wieght", "1"], "unrecognized arguments: --model.reblur_wieght"),
    ],
)
def test_bad_option_values_name_the_option(capsys, options, names):
    line = command_error(capsys, main, ["fit", "--config", TINY, *options], status=2)
    assert line.startswith("reblur") and names in line


def test_yaml_syntax_error_names_the_file(tmp_path, capsys):
    config = tmp_path / "broken.yaml"
    config.write_text("model:\n  loss: {reblur_weight: 1.0\n")
    line = command_error(capsys, main, ["fit", "--config", TINY, "--config", str(config)], status=2)
    assert line.startswith(f"reblur: error: --config '{config}': YAML syntax error at line")


@pytest.mark.parametrize("content", [b"not a checkpoint\n", b"PK\x03\x04 a truncated zip"])
def test_corrupt_checkpoint_names_the_file_and_never_suggests_an_unsafe_load(tmp_path, capsys, content):
    bad = tmp_path / "model.ckpt"
    bad.write_bytes(content)
    line = command_error(capsys, main, ["test", "--config", TINY, "--ckpt_path", str(bad)], status=2)
    assert line.startswith(f"reblur: error: --ckpt_path '{bad}' is not a checkpoint of this project")
    assert "weights_only=False" not in line and "weights_only" not in line.split("torch cannot read it as a")[0]


def test_checkpoint_of_something_else_is_refused(tmp_path, capsys):
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(1)}}, other)
    line = command_error(capsys, main, ["test", "--config", TINY, "--ckpt_path", str(other)], status=2)
    assert line == (
        f"reblur: error: --ckpt_path '{other}' is not a checkpoint of this project (no deblur_net weights); "
        "give a .ckpt file that `reblur fit` wrote (in <default_root_dir>/checkpoints)"
    )
    line = command_error(capsys, main, ["test", "--config", TINY, "--ckpt_path", str(tmp_path / "none.ckpt")], status=2)
    assert line == f"reblur: error: --ckpt_path '{tmp_path / 'none.ckpt'}': no such file"


def test_out_of_memory_is_one_line_with_what_to_change(capsys):
    args = ["fit", "--config", TINY, "--trainer.callbacks+=tests.callbacks.AllocateTooMuch"]
    line = command_error(capsys, main, args, status=1)
    assert line.startswith("reblur: error: out of memory (") and "--data.init_args.batch_size" in line


def test_no_subcommand_prints_the_help_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2 and "evaluate" in capsys.readouterr().err
