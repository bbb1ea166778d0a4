"""Checking a data-set folder against its :class:`~deblur_core.datasets.registry.DatasetSpec`.

What is checked, in order:

1. each ``(pattern, count)`` of the layout: exactly ``count`` files (folders, for a pattern ending in ``/``)
   match ``pattern`` under the root; names starting with a dot are never counted;
2. each recorded SHA-256: the file exists and its bytes hash to the recorded value;
3. for a pattern whose files are all recorded: no other file matches it (a renamed or stray file is named).

Every problem is one line that names the file or pattern and says what was expected. Only the layout and
the recorded files are read; other files in the root (a ``README.md``) are left alone. Patterns use ``*``, ``?``
and ``[...]`` within one path component (no ``**``).

``subset`` checks one part of a set that sits in its own folder: ``verify(BSDS500, folder, subset="test")``
treats ``folder`` as the set's ``test/`` and applies only the checks and sums under ``test/``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from deblur_core.cli_errors import UsageError
from deblur_core.datasets.registry import DatasetSpec

MAX_LISTED_PROBLEMS = 20
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, lowercase hex (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Report:
    """Outcome of :func:`verify`: ``counts`` holds ``(pattern, expected, found)`` per layout check."""

    name: str
    root: Path
    subset: str | None
    counts: tuple[tuple[str, int, int], ...]
    hashed: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: what was checked and the outcome."""
        part = f" (part '{self.subset}')" if self.subset else ""
        files = sum(found for pattern, _, found in self.counts if not pattern.endswith("/"))
        checks = f"{len(self.counts)} layout check{'s' if len(self.counts) != 1 else ''}"
        checked = f"{checks}, {files} files, {self.hashed} SHA-256 sums compared"
        outcome = "OK" if self.ok else f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        return f"{self.name}{part} at '{self.root}': {checked}: {outcome}"

    def problem_lines(self, limit: int = MAX_LISTED_PROBLEMS) -> list[str]:
        """The problems, at most ``limit`` of them, then ``... and N more``."""
        lines = list(self.problems[:limit])
        if len(self.problems) > limit:
            lines.append(f"... and {len(self.problems) - limit} more")
        return lines


def _visible(relative: str) -> bool:
    return not any(part.startswith(".") for part in relative.split("/"))


def _matches(relative: str, pattern: str) -> bool:
    parts, wanted = relative.split("/"), pattern.rstrip("/").split("/")
    return len(parts) == len(wanted) and all(fnmatchcase(p, w) for p, w in zip(parts, wanted))


def matching(root: Path, pattern: str) -> list[str]:
    """Relative POSIX paths under ``root`` that ``pattern`` counts, sorted."""
    want_dirs = pattern.endswith("/")
    found = []
    for path in root.glob(pattern.rstrip("/")):
        relative = path.relative_to(root).as_posix()
        if _visible(relative) and (path.is_dir() if want_dirs else path.is_file()):
            found.append(relative)
    return sorted(found)


def scoped(spec: DatasetSpec, subset: str | None) -> tuple[tuple[tuple[str, int], ...], dict[str, str]]:
    """The layout checks and recorded sums of ``subset`` (paths made relative to it), or of the whole set."""
    if not subset:
        return spec.layout, dict(spec.sha256)
    prefix = subset.strip("/") + "/"
    layout = tuple((pattern[len(prefix) :], count) for pattern, count in spec.layout if pattern.startswith(prefix))
    if not layout:
        parts = sorted({pattern.split("/")[0] for pattern, _ in spec.layout if "/" in pattern})
        raise UsageError(f"'{subset}' is not a part of {spec.name}'s layout (parts: {', '.join(parts) or 'none'})")
    sums = {path[len(prefix) :]: digest for path, digest in spec.sha256.items() if path.startswith(prefix)}
    return layout, sums


def layout_holds(spec: DatasetSpec, root: str | os.PathLike) -> bool:
    """Whether every layout count holds under ``root`` (cheap: no file is read)."""
    root = Path(root)
    return root.is_dir() and all(len(matching(root, p)) == n for p, n in spec.layout)


def verify(spec: DatasetSpec, root: str | os.PathLike, *, subset: str | None = None) -> Report:
    """Check ``root`` against ``spec`` (or against its part ``subset``); never raises for bad data."""
    root = Path(root).expanduser()
    layout, sums = scoped(spec, subset)
    if not root.is_dir():
        problem = f"'{root}' is not a folder (expected {spec.name}'s files there: deblur-datasets where {spec.name})"
        return Report(spec.name, root, subset, (), 0, (problem,))
    problems: list[str] = []
    counts = []
    stray: list[str] = []
    for pattern, expected in layout:
        found = matching(root, pattern)
        counts.append((pattern, expected, len(found)))
        kind = "folders" if pattern.endswith("/") else "files"
        if len(found) != expected:
            problems.append(f"'{pattern}': {len(found)} {kind} match, expected {expected}")
        recorded = {path for path in sums if _matches(path, pattern)}
        if recorded and len(recorded) == expected:  # every file of this pattern is known by name
            stray += [
                f"{path}: not one of the {expected} recorded files of '{pattern}'"
                for path in found
                if path not in recorded
            ]
    hashed = 0
    for path, expected_hex in sorted(sums.items()):
        file = root / path
        if not file.is_file():
            problems.append(f"{path}: missing (a file of {spec.name} with a recorded SHA-256)")
            continue
        actual = sha256_file(file)
        hashed += 1
        if actual != expected_hex:
            problems.append(f"{path}: SHA-256 {actual[:16]}... differs from the recorded {expected_hex}")
    return Report(spec.name, root, subset, tuple(counts), hashed, tuple(problems + stray))
