"""The shell of the papers' commands (``selfdeblur``, ``reblur``): help, ``evaluate``, and the LightningCLI rest.

A :class:`PaperCommand` answers ``--help`` itself, hands ``evaluate`` to a module with ``main(args)`` and every
other subcommand, after checking the YAML files it names (:mod:`deblur_core.config_files`), to a module with
``run(args)``. Both modules are imported only when needed, and errors go through
:func:`deblur_core.cli_errors.run_command`: ``--help`` and option errors answer without importing torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deblur_core.cli_errors import DEBUG_ENV, USAGE_STATUS, run_command
from deblur_core.config_files import check_config_files


@dataclass(frozen=True)
class PaperCommand:
    """One paper's command line.

    Args:
        program: the command's name, first word of its error lines.
        summary: one sentence under the usage line.
        subcommands: name -> one-line description, in the order ``--help`` lists them; ``evaluate`` among them.
        evaluate_module: dotted name of the module whose ``main(args)`` runs ``evaluate``.
        lightning_module: dotted name of the module whose ``run(args)`` runs the other subcommands.
        memory_hint: what to change when memory runs out (appended to the one-line error).
        exit_note: extra sentences for ``--help`` (e.g. exit statuses beyond 0, 1 and 2).
    """

    program: str
    summary: str
    subcommands: Mapping[str, str]
    evaluate_module: str
    lightning_module: str
    memory_hint: str
    exit_note: str = ""

    def help_text(self) -> str:
        lines = [f"usage: {self.program} {{{','.join(self.subcommands)}}} [options]", "", self.summary, ""]
        lines += ["subcommands:"] + [f"  {name:<10} {text}" for name, text in self.subcommands.items()]
        lines += [
            "",
            f"`{self.program} SUBCOMMAND --help` lists a subcommand's options. --debug (or {DEBUG_ENV}=1) shows the",
            "traceback of an error instead of its one-line message.",
        ]
        if self.exit_note:
            lines.append(self.exit_note)
        return "\n".join(lines)

    def main(self, args: Sequence[str] | None = None) -> None:
        """Run the command with ``args`` (default: ``sys.argv[1:]``)."""
        run_command(self.program, args, self._dispatch, self.memory_hint)

    def _dispatch(self, args: list[str]) -> None:
        if not args or args[0] in ("-h", "--help"):
            print(self.help_text(), file=sys.stdout if args else sys.stderr)
            raise SystemExit(0 if args else USAGE_STATUS)
        if args[0] == "evaluate":
            importlib.import_module(self.evaluate_module).main(args[1:])
            return
        check_config_files(args)
        try:
            importlib.import_module(self.lightning_module).run(args)
        finally:
            release_process_group()


def release_process_group() -> None:
    """Destroy the default ``torch.distributed`` process group if a run left one (a no-op otherwise).

    Lightning's DDP strategy keeps the group after ``fit``/``test``/``predict`` and destroys it at exit only for
    NCCL. A Gloo group (DDP on CPUs) left to interpreter shutdown can abort the process ("terminate called without
    an active exception", exit status -6) after all its work is done. Looked up in ``sys.modules`` so that paths
    which never imported torch do not import it here.
    """
    distributed = sys.modules.get("torch.distributed")
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        distributed.destroy_process_group()
