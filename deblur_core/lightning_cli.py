"""What both papers' LightningCLIs share: parse errors as one line (:mod:`deblur_core.cli_errors`), and a warning
when bf16 precision would be emulated on the CPU (:mod:`deblur_core.cpu_bf16`).

jsonargparse's own error output is the whole usage of the subcommand (90 lines for ``selfdeblur fit``) above
the one line that matters; here that line alone is printed, with the option named as it is typed.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, NoReturn

from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from deblur_core.cli_errors import report_usage
from deblur_core.cpu_bf16 import warn_if_bf16_is_emulated


def one_line(message: str) -> str:
    """jsonargparse's message on one line, ``Parser key "a.b"`` written as the option ``--a.b``.

    >>> one_line('Parser key "model.optimization.steps":\\n  Expected a <class \\'int\\'>. Got value: abc')
    "--model.optimization.steps: Expected a <class 'int'>. Got value: abc"
    """
    message = re.sub(r'Parser key "([^"]+)"', r"--\1", message)
    return " ".join(message.split())


class OneLineErrorParser(LightningArgumentParser):
    """A LightningArgumentParser whose parse errors print ``<prog>: error: <message>`` and exit with status 2."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:  # jsonargparse's internal use: the caller handles the raised ArgumentError
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        report_usage(prog, one_line(message))


# The commands hand the CLI their arguments explicitly (without --debug); they are the command line's, not a
# second set, so Lightning's warning about an explicit ``args`` does not apply.
warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended", category=UserWarning)


class OneLineErrorsCLI(LightningCLI):
    """LightningCLI whose parsers (the root's and every subcommand's) report errors on one line.

    It also warns, once the Trainer exists, when bf16 precision would be emulated on this CPU
    (:mod:`deblur_core.cpu_bf16`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parser_class", OneLineErrorParser)
        super().__init__(*args, **kwargs)

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        warn_if_bf16_is_emulated(self.trainer)
