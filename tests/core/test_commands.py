"""The papers' command shell: help without torch, dispatch to ``evaluate`` and to the LightningCLI module."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from deblur_core.commands import PaperCommand

HELP_PROBE = """
import contextlib, io, sys, time
start = time.perf_counter()
from {package}.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    for args in (['--help'], ['evaluate', '--help']):
        try:
            main(args)
        except SystemExit as done:
            assert done.code == 0, done.code
print(out.getvalue())
print('torch imported:', 'torch' in sys.modules)
print('seconds:', time.perf_counter() - start)
"""


@pytest.mark.parametrize(
    ("package", "subcommands", "evaluate_option"),
    [
        ("selfdeblur", ("fit", "evaluate"), "--results"),
        ("reblur", ("fit", "validate", "test", "predict", "evaluate"), "--niqe_color"),
    ],
)
def test_help_lists_every_subcommand_quickly_without_importing_torch(package, subcommands, evaluate_option):
    probe = HELP_PROBE.format(package=package)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    for subcommand in subcommands:
        assert f"  {subcommand} " in result.stdout
    assert evaluate_option in result.stdout and "torch imported: False" in result.stdout
    assert float(result.stdout.rsplit("seconds:", 1)[1]) < 2.0  # the bound of issue 14


@pytest.fixture
def recording_command(monkeypatch):
    """A command whose evaluate and LightningCLI modules record the arguments they get."""
    # --debug sets these for the rest of the process; the tests restore them.
    monkeypatch.setenv("DEBLUR_DEBUG", "0")
    monkeypatch.setenv("JSONARGPARSE_DEBUG", "")
    calls: list[tuple[str, list[str]]] = []
    evaluate = types.ModuleType("fake_evaluate")
    evaluate.main = lambda args: calls.append(("evaluate", args))  # type: ignore[attr-defined]
    lightning = types.ModuleType("fake_lightning")
    lightning.run = lambda args: calls.append(("run", args))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_evaluate", evaluate)
    monkeypatch.setitem(sys.modules, "fake_lightning", lightning)
    command = PaperCommand(
        program="paper",
        summary="A paper.",
        subcommands={"fit": "train", "evaluate": "score"},
        evaluate_module="fake_evaluate",
        lightning_module="fake_lightning",
        memory_hint="use less",
    )
    return command, calls


def test_evaluate_and_the_rest_go_to_their_modules_without_debug(recording_command):
    command, calls = recording_command
    command.main(["fit", "--trainer.max_epochs", "1"])
    command.main(["evaluate", "--pred", "a", "--debug"])
    assert calls == [("run", ["fit", "--trainer.max_epochs", "1"]), ("evaluate", ["--pred", "a"])]


def test_a_missing_config_file_is_one_line_before_the_lightning_module_runs(recording_command, tmp_path, capsys):
    command, calls = recording_command
    with pytest.raises(SystemExit) as exit_info:
        command.main(["fit", "--config", str(tmp_path / "none.yaml")])
    assert exit_info.value.code == 2 and calls == []
    err = capsys.readouterr().err.strip()
    assert err.startswith("paper: error: ") and "none.yaml" in err and len(err.splitlines()) == 1


def test_no_subcommand_prints_the_help_to_stderr_and_exits_2(recording_command, capsys):
    command, _ = recording_command
    with pytest.raises(SystemExit) as exit_info:
        command.main([])
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and captured.out == ""
    assert captured.err.startswith("usage: paper {fit,evaluate} [options]")


@pytest.mark.parametrize("fails", [False, True])
def test_a_process_group_left_by_the_run_is_destroyed_when_it_ends(recording_command, monkeypatch, tmp_path, fails):
    # A Gloo group left to interpreter shutdown aborted two-process CPU runs after their work was done (CI, -6).
    import torch.distributed as dist

    command, _ = recording_command

    def run(args):
        dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
        assert dist.is_initialized()
        if fails:
            raise ValueError("the run failed")

    monkeypatch.setattr(sys.modules["fake_lightning"], "run", run)
    if fails:
        with pytest.raises(ValueError, match="the run failed"):
            command.main(["fit", "--debug"])
    else:
        command.main(["fit"])
    assert not dist.is_initialized()
