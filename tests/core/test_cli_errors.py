"""How the command lines end (deblur_core.cli_errors.run_command)."""

from __future__ import annotations

import pytest
from pytorch_lightning.utilities.exceptions import SIGTERMException

from deblur_core.cli_errors import TERMINATED_STATUS, run_command


def stopped_by_sigterm(args: list[str]) -> None:
    raise SIGTERMException  # what Lightning raises after the step in progress when the process got SIGTERM


def finished(args: list[str]) -> None:
    raise SystemExit(0)


def test_a_run_stopped_by_sigterm_exits_143_with_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        run_command("reblur", [], stopped_by_sigterm)
    assert stop.value.code == TERMINATED_STATUS == 128 + 15
    assert capsys.readouterr().err == "reblur: error: stopped by SIGTERM after the step in progress\n"


def test_other_exits_keep_their_status(capsys):
    with pytest.raises(SystemExit) as stop:
        run_command("reblur", [], finished)
    assert stop.value.code == 0 and capsys.readouterr().err == ""
