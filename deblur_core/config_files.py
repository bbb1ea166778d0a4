"""The YAML files named by ``--config``, read before the command line is parsed, so that a missing file or a
syntax error names the file and the line (the parser itself only says ``"<unicode string>"``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from deblur_core.cli_errors import UsageError

CONFIG_FLAGS = ("--config", "-c")


def config_arguments(argv: Sequence[str]) -> list[str]:
    """The values given to ``--config`` / ``-c`` (``--config X`` and ``--config=X``), in order."""
    values = []
    for i, arg in enumerate(argv):
        if arg in CONFIG_FLAGS and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif arg.startswith("--config="):
            values.append(arg.split("=", 1)[1])
    return values


def check_config_files(argv: Sequence[str]) -> None:
    """Raise :class:`UsageError` naming the file for a ``--config`` file that is missing or not valid YAML.

    Values that are not file names (jsonargparse also takes inline YAML, e.g. ``--config '{a: 1}'``) are left
    to the parser.

    >>> check_config_files(["fit", "--config", "missing.yaml"])
    Traceback (most recent call last):
    ...
    deblur_core.cli_errors.UsageError: --config 'missing.yaml': no such file
    """
    for value in config_arguments(argv):
        path = Path(value).expanduser()
        looks_like_a_file = path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists()
        if not looks_like_a_file or value.lstrip().startswith("{"):
            continue
        if not path.is_file():
            raise UsageError(f"--config '{value}': no such file")
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise UsageError(f"--config '{value}': YAML syntax error{where}: {problem}") from err
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--config '{value}': cannot read it ({err})") from err
