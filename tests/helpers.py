"""Paths and small settings the tests share."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SELFDEBLUR_TINY = str(REPO / "tests" / "conf" / "selfdeblur_tiny.yaml")
REBLUR_TINY = str(REPO / "tests" / "conf" / "reblur_tiny.yaml")

# A small G_x (2 scales of 8 channels) so that CPU tests take a fraction of a second per step.
TINY_GENERATORS: dict[str, Any] = {
    "image_channels": [8, 8],
    "skip_channels": [4, 4],
    "non_local_scales": 1,
    "kernel_hidden": [32],
}


def tiny_model_options() -> dict[str, dict[str, Any]]:
    """``model`` options of a small SelfDeblur, as nested in YAML (``{"generators": {...}}``)."""
    return {"generators": dict(TINY_GENERATORS)}


def tiny_model_cli() -> list[str]:
    """The same as ``--model.generators.*`` command-line options."""
    return [f"--model.generators.{key}={value}" for key, value in TINY_GENERATORS.items()]


def model_groups(tiny: bool = True, **options: Any) -> dict[str, Any]:
    """``SelfDeblur`` keyword arguments from field names of any option group, e.g.
    ``SelfDeblur(**model_groups(steps=3, weight="auto"))``; small generators unless ``tiny=False``."""
    from selfdeblur.options import Compute, Generators, Optimization, TotalVariation

    groups = {"optimization": Optimization, "generators": Generators, "tv": TotalVariation, "compute": Compute}
    values: dict[str, dict[str, Any]] = {name: {} for name in groups}
    if tiny:
        values["generators"] = {k: tuple(v) if isinstance(v, list) else v for k, v in TINY_GENERATORS.items()}
    owner = {f.name: group for group, cls in groups.items() for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key == "seed":
            kwargs["seed"] = value
            continue
        values[owner[key]][key] = tuple(value) if isinstance(value, list) else value
    return kwargs | {group: cls(**values[group]) for group, cls in groups.items()}


def command_error(capsys: Any, main: Any, args: list[str], status: int) -> str:
    """Run a command's ``main(args)``, which must exit with ``status``; return its one ``: error: `` line from
    stderr (other lines, such as Lightning's "GPU available" notes, may come before it)."""
    import pytest

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == status, (exit_info.value.code, capsys.readouterr().err[-2000:])
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1, errors
    assert "Traceback" not in errors[0]
    return errors[0]


def shared_data(name: str) -> Path:
    """``../shared/data/<name>``, or a skip naming it (a failure in CI, for tests marked ``reference``: the hook in
    ``tests/conftest.py``)."""
    import pytest

    path = SHARED / name
    if not path.exists():
        pytest.skip(f"needs {path} (this project's machines only; not part of a clone)")
    return path
