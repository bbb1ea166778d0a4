"""Errors a user can act on: the command lines print one line naming the file or option, and exit non-zero.

Known errors are problems of the input, not of the program: a bad option value, a missing or unreadable
file, a malformed config or checkpoint, data that does not fit the model, memory that runs out. For them
:func:`run_command` prints ``<program>: error: <message>`` (the message says which file or option, and what
to do) and exits with status 2 (the options or config files are wrong) or 1 (the data or the run failed).
Anything else is a bug and keeps its traceback. ``--debug`` anywhere on the command line (or
``DEBLUR_DEBUG=1`` in the environment) shows the traceback of known errors too.

What counts as known:

* :class:`UserError` (and :class:`UsageError`), raised where the project checks its inputs, also when
  another error was raised from it or while handling it;
* ``ValueError``, ``TypeError``, ``OSError`` (``FileNotFoundError``, ...), ``RuntimeError`` and
  ``ArithmeticError`` (``FloatingPointError``: a loss became NaN) raised by this project's own code (the
  innermost frame of the traceback lies in :mod:`deblur_core`, :mod:`selfdeblur` or :mod:`reblur`): the
  project raises them with messages that name what is wrong;
* ``argparse.ArgumentError`` (jsonargparse's parse errors);
* running out of memory: torch's ``OutOfMemoryError`` (GPU) or an allocation failure of the CPU allocator.

A run stopped by SIGTERM (Lightning ends it after the step in progress and raises its ``SIGTERMException``, a
``SystemExit`` with no status) says so and exits with 143, so that a script or scheduler does not take it for a
finished run.

This module imports neither torch nor Lightning, so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

DEBUG_FLAG = "--debug"
DEBUG_ENV = "DEBLUR_DEBUG"
USAGE_STATUS = 2
DATA_STATUS = 1
TERMINATED_STATUS = 143  # 128 + SIGTERM, as a shell reports a process the signal ended

_OWN_PACKAGES = tuple(
    str(Path(__file__).resolve().parents[1] / name) for name in ("deblur_core", "selfdeblur", "reblur")
)
# What the project raises with a message that names the problem (ArithmeticError: a loss that diverged).
_CHECKED_TYPES = (ValueError, TypeError, OSError, RuntimeError, ArithmeticError)
_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "cannot allocate memory")

T = TypeVar("T")


class UserError(Exception):
    """A problem the user can fix; the message names the file or option and what to do."""

    exit_status = DATA_STATUS


class UsageError(UserError, ValueError):
    """The options or config files are wrong (exit status 2, as argparse's own errors); a ``ValueError`` too."""

    exit_status = USAGE_STATUS


def split_debug(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """``(debug, argv without --debug)``; ``DEBLUR_DEBUG`` set to anything but ``""``/``0`` also asks for it.

    ``--debug`` sets ``DEBLUR_DEBUG=1`` (for nested commands and the processes of a distributed run, which
    see the environment) and ``JSONARGPARSE_DEBUG=1`` (jsonargparse then raises its parse errors).
    """
    args = list(argv)
    if DEBUG_FLAG in args:
        os.environ[DEBUG_ENV] = "1"
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if debug:
        os.environ.setdefault("JSONARGPARSE_DEBUG", "1")
    return debug, [a for a in args if a != DEBUG_FLAG]


def _raised_by_this_project(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and str(Path(frames[-1].filename).resolve()).startswith(_OWN_PACKAGES)


def _is_out_of_memory(error: BaseException) -> bool:
    if type(error).__name__ == "OutOfMemoryError" or isinstance(error, MemoryError):
        return True
    return isinstance(error, RuntimeError) and any(text in str(error) for text in _OUT_OF_MEMORY)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())


def _user_error_in_chain(error: BaseException) -> UserError | None:
    """A :class:`UserError` that ``error`` was raised from or while handling (jsonargparse wraps the errors of
    the classes it instantiates in its own ``ValueError``)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, UserError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe(error: BaseException, memory_hint: str = "") -> tuple[str, int] | None:
    """``(message, exit status)`` for a known error (module docstring), ``None`` for anything else."""
    user_error = _user_error_in_chain(error)
    if user_error is not None:
        return str(user_error), user_error.exit_status
    if isinstance(error, argparse.ArgumentError):
        return str(error), USAGE_STATUS
    if _is_out_of_memory(error):
        hint = f"; {memory_hint}" if memory_hint else ""
        return f"out of memory ({_first_line(str(error))[:200]}){hint}", DATA_STATUS
    if isinstance(error, _CHECKED_TYPES) and _raised_by_this_project(error):
        message = str(error)
        if isinstance(error, OSError) and error.filename and str(error.filename) not in message:
            message = f"'{error.filename}': {message}"
        return message, DATA_STATUS
    return None


def _is_sigterm(stop: SystemExit) -> bool:
    # By name: importing Lightning here would slow every --help.
    return any(cls.__name__ == "SIGTERMException" for cls in type(stop).__mro__)


def report(program: str, message: str, status: int) -> NoReturn:
    """Print ``<program>: error: <message>`` to stderr and exit with ``status``."""
    print(f"{program}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def report_usage(program: str, message: str) -> NoReturn:
    """A parse error of ``program``: one line pointing to its ``--help``, exit status 2."""
    report(program, f"{message} (`{program} --help` lists the options)", USAGE_STATUS)


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors print ``<prog>: error: <message>`` alone (no usage) and exit with 2."""

    def error(self, message: str) -> NoReturn:
        report_usage(self.prog, message)


def run_command(program: str, argv: Sequence[str] | None, body: Callable[[list[str]], T], memory_hint: str = "") -> T:
    """Run ``body(argv)`` (``argv`` without ``--debug``; ``None`` means ``sys.argv[1:]``) and turn known errors
    into one line and an exit status (module docstring). ``memory_hint`` says what to change when memory runs out.
    """
    debug, args = split_debug(sys.argv[1:] if argv is None else argv)
    try:
        return body(args)
    except SystemExit as stop:
        if _is_sigterm(stop):
            report(program, "stopped by SIGTERM after the step in progress", TERMINATED_STATUS)
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        known = None if debug else describe(error, memory_hint)
        if known is None:
            raise
        report(program, *known)
