"""``deblur-datasets``: list the known data sets, say where each goes, verify a copy, download one.

Conventions: a set ``NAME`` lives in ``ROOT/NAME`` (``--root``, default ``data`` relative to the current
folder, the place the shipped configs read); ``verify --path DIR`` checks any folder instead. Results go to
stdout. Errors are one line on stderr, ``deblur-datasets: error: ...``, without a traceback: exit status 2
for bad usage (an unknown set, inconsistent options), 1 for data or network problems (a failed check, an
unreachable URL: the line then says where to put the files by hand); ``--debug`` (or ``DEBLUR_DEBUG=1``) shows
the traceback, as for the papers' commands (:mod:`deblur_core.cli_errors`). Sets with several archives take
``--url`` once per archive, in the order ``where`` lists them, or ``--mirror BASE`` (each archive fetched
from ``BASE/<file name>``).

This module imports no torch, so that ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from deblur_core.cli_errors import OneLineArgumentParser, UsageError, run_command
from deblur_core.datasets.download import TargetExistsError, download, manual_steps
from deblur_core.datasets.registry import DATASETS, DatasetSpec, dataset
from deblur_core.datasets.verify import Report, layout_holds, verify

PROG = "deblur-datasets"


def _parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROG,
        description="Where each data set comes from, its expected layout and checksums; verify and download.",
        epilog=f"Sets: {', '.join(DATASETS)}. See docs/datasets.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    root = OneLineArgumentParser(add_help=False)
    root.add_argument("--root", default="data", help="folder that holds the sets, one subfolder each (default: data)")

    sub.add_parser("list", parents=[root], help="one line per set: kind, size, place, presence")
    where = sub.add_parser("where", parents=[root], help="where NAME goes, its layout, how to place it by hand")
    where.add_argument("name", metavar="NAME")

    check = sub.add_parser("verify", parents=[root], help="check layout counts and recorded SHA-256 sums")
    check.add_argument("name", metavar="NAME")
    check.add_argument("--path", help="the set's folder itself (instead of ROOT/NAME)")
    check.add_argument("--subset", help="the folder holds only this part of the set (e.g. bsds500 'test')")

    fetch = sub.add_parser("download", parents=[root], help="fetch, check, extract into ROOT/NAME, verify")
    fetch.add_argument("name", metavar="NAME")
    fetch.add_argument("--url", action="append", default=[], help="archive URL (once per archive, in order)")
    fetch.add_argument("--mirror", metavar="BASE", help="fetch each archive from BASE/<file name>")
    fetch.add_argument("--force", action="store_true", help="replace an existing folder")
    return parser


def _spec(name: str) -> DatasetSpec:
    try:
        return dataset(name)
    except KeyError as err:
        raise UsageError(err.args[0]) from None


def _kind(spec: DatasetSpec) -> str:
    return "shipped" if spec.shipped else "by hand" if spec.manual else "download"


def _presence(spec: DatasetSpec, folder: Path) -> str:
    if layout_holds(spec, folder):
        return "present"
    return "incomplete" if folder.exists() else "absent"


def _list(root: Path) -> int:
    print(f"{'name':<9} {'kind':<9} {'size':<8} {'presence':<11} folder")
    for spec in DATASETS.values():
        folder = root / spec.directory
        print(f"{spec.name:<9} {_kind(spec):<9} {spec.size or '?':<8} {_presence(spec, folder):<11} {folder}")
    return 0


def _where(spec: DatasetSpec, root: Path) -> int:
    folder = (root / spec.directory).absolute()
    print(f"{spec.name}: {spec.title}")
    print(f"  paper:     {spec.citation}")
    print(f"  official:  {spec.page}")
    print(f"  licence:   {spec.licence}")
    if spec.shipped:
        print(f"  shipped:   in this repository, data/{spec.directory} ({spec.source})")
    for archive in spec.archives:
        known = archive.sha256 or "not recorded"
        print(f"  archive:   {archive.filename} <{archive.url}> (SHA-256 {known})")
    if spec.manual:
        print("  archive:   no URL confirmed: download by hand from the official page")
    print(f"  goes to:   {folder} ({_presence(spec, folder)})")
    print("  layout (relative to it, exact counts):")
    for pattern, count in spec.layout:
        print(f"    {pattern:<30} {count}")
    sums = f"{len(spec.sha256)} files recorded ({spec.source})" if spec.sha256 else "none recorded: layout only"
    print(f"  SHA-256:   {sums}")
    if spec.notes:
        print(f"  notes:     {spec.notes}")
    print(f"  by hand:   {manual_steps(spec, folder)}")
    return 0


def _print_report(report: Report) -> int:
    print(report.summary())
    for line in report.problem_lines():
        print(f"  {line}")
    return 0 if report.ok else 1


def _download(spec: DatasetSpec, root: Path, args: argparse.Namespace) -> int:
    if spec.shipped and not (args.url or args.mirror):
        print(
            f"{spec.name} is shipped with the repository (data/{spec.directory}): nothing to download; "
            f"'{PROG} verify {spec.name}' checks it"
        )
        return 0
    try:
        target = root / spec.directory
        report = download(spec, target, urls=args.url, mirror=args.mirror, force=args.force, progress=True)
    except TargetExistsError as err:
        if err.complete:
            print(err)
            return 0
        raise
    return _print_report(report)


def _run(args: argparse.Namespace) -> int:
    root = Path(args.root).expanduser()
    if args.command == "list":
        return _list(root)
    spec = _spec(args.name)
    if args.command == "where":
        return _where(spec, root)
    if args.command == "verify":
        folder = Path(args.path).expanduser() if args.path else root / spec.directory
        return _print_report(verify(spec, folder, subset=args.subset))
    return _download(spec, root, args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status: 0, or 1 when ``verify`` or ``download`` found problems.
    Errors exit through ``SystemExit`` with one line (:func:`deblur_core.cli_errors.run_command`), as ``--help``.
    """
    return run_command(PROG, argv, lambda args: _run(_parser().parse_args(args)))


if __name__ == "__main__":
    sys.exit(main())
