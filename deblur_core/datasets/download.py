"""Fetching a data set's archives and putting their files into place, never half-written.

Conventions:

* Everything happens in a staging folder beside the target (``.<name>.download-XXXX`` in the target's parent,
  so that the final move is a rename on one file system). Each archive streams to ``<file>.part`` and is
  renamed to ``<file>`` once complete.
* An archive with a recorded SHA-256 is hashed while it streams; a mismatch stops the download with a message
  naming the archive, and nothing is written at the target.
* Archives are extracted in the staging folder (zip; tar with any compression, through tarfile's ``data``
  filter, which refuses members that would land outside; ``none`` copies the file as is). The folder each
  archive contributes (its ``member``, else its top level or its single top-level folder, see
  :mod:`~deblur_core.datasets.registry`) is merged into one tree, which then replaces the target by rename:
  the target is absent, the old tree or the complete new one, never a partial tree. The new tree is then
  verified (:func:`~deblur_core.datasets.verify.verify`) and the report returned.
* URLs: ``urls`` replace the archives' URLs one for one (a set without archives, such as a shipped or a
  manual one, takes each URL as an archive, extracted by its suffix: ``.zip``, ``.tar*``/``.tgz``, else
  copied); ``mirror`` fetches each archive from ``<mirror>/<filename>``.
* Failures are :class:`DatasetError` with a one-line message; a URL that cannot be fetched (no network, a
  refused connection, HTTP errors, a missing ``file://``) is an :class:`OfflineError` whose message also says
  where to put the files by hand (:func:`manual_steps`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse
from urllib.request import urlopen

from deblur_core.cli_errors import UsageError
from deblur_core.datasets.registry import Archive, DatasetSpec, Extract
from deblur_core.datasets.verify import Report, layout_holds, verify

_CHUNK = 1 << 20
_TIMEOUT_S = 60
_SKIPPED_NAMES = ("__MACOSX",)
# URLError (and HTTPError) are OSErrors; a missing file:// path is a plain one; a cut connection may be either.
_NETWORK_ERRORS = (OSError, HTTPException)


class DatasetError(RuntimeError):
    """A data or network problem (the command line exits with 1)."""


class OfflineError(DatasetError):
    """A URL could not be fetched; the message says where to put the files by hand."""


class TargetExistsError(DatasetError):
    """The target folder exists and ``force`` was not given; ``complete`` says whether it verifies."""

    def __init__(self, message: str, complete: bool):
        super().__init__(message)
        self.complete = complete


def _layout_text(spec: DatasetSpec) -> str:
    return "; ".join(f"{pattern} ({count})" for pattern, count in spec.layout)


def manual_steps(spec: DatasetSpec, target: str | os.PathLike) -> str:
    """One line: how to put ``spec`` at ``target`` by hand (the text ``where`` and offline errors print)."""
    files = [a.filename for a in spec.archives]
    if len(files) > 3:
        files = [files[0], "...", files[-1], f"({len(spec.archives)} files)"]
    what = f" ({' '.join(files)})" if files else ""
    return (
        f"download {spec.name}{what} from {spec.page}, extract it so that '{target}' holds "
        f"{_layout_text(spec)}, then run: deblur-datasets verify {spec.name} --path '{target}'"
    )


def _kind_from_name(name: str) -> Extract:
    lower = name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tgz", ".tbz2", ".txz")) or ".tar" in PurePosixPath(lower).name:
        return "tar"
    return "none"


def resolve_archives(spec: DatasetSpec, urls: Sequence[str] = (), mirror: str | None = None) -> list[Archive]:
    """The archives to fetch, after ``urls``/``mirror``; ``ValueError`` for inconsistent options."""
    if urls and mirror:
        raise UsageError("give --url or --mirror, not both")
    if mirror:
        if not spec.archives:
            raise UsageError(f"{spec.name} has no archive file names to look for under --mirror; give --url")
        return [replace(a, url=f"{mirror.rstrip('/')}/{a.filename}") for a in spec.archives]
    if urls:
        if not spec.archives:
            names = [PurePosixPath(urlparse(u).path).name or f"archive-{i}" for i, u in enumerate(urls)]
            return [Archive(n, u, extract=_kind_from_name(n)) for n, u in zip(names, urls)]
        if len(urls) != len(spec.archives):
            raise UsageError(
                f"{spec.name} has {len(spec.archives)} archives ({', '.join(a.filename for a in spec.archives)}); "
                f"got {len(urls)} --url (give one per archive, in that order, or --mirror BASE)"
            )
        return [replace(a, url=u) for a, u in zip(spec.archives, urls)]
    if spec.shipped and not spec.archives:
        raise DatasetError(f"{spec.name} is shipped with the repository (data/{spec.directory}): nothing to download")
    if not spec.archives:
        raise DatasetError(f"no download URL is known for {spec.name}; give --url")
    return list(spec.archives)


def _show(name: str, done: int, total: int | None, final: bool) -> None:
    size = f"{done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else "")
    if sys.stderr.isatty():
        print(f"\r{name}: {size}", end="\n" if final else "", file=sys.stderr, flush=True)
    elif final:
        print(f"{name}: {size}", file=sys.stderr)


def _reason(err: BaseException) -> str:
    if isinstance(err, HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, URLError):
        return str(err.reason)
    return f"{type(err).__name__}: {err}"


def fetch(url: str, dest: Path, *, sha256: str | None = None, progress: bool = False) -> Path:
    """Stream ``url`` to ``dest`` (through ``dest.part``), checking ``sha256`` when given.

    Failing to open or read ``url`` is an :class:`OfflineError`; failing to write ``dest`` stays an ``OSError``.
    """
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    done, total, last = 0, None, 0.0
    try:
        with open(part, "wb") as out:
            try:
                response = urlopen(url, timeout=_TIMEOUT_S)
            except _NETWORK_ERRORS as err:
                raise OfflineError(f"could not fetch {url}: {_reason(err)}") from err
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except _NETWORK_ERRORS as err:
                        raise OfflineError(f"could not fetch {url}: {_reason(err)}") from err
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress and time.monotonic() - last > 0.2:
                        _show(dest.name, done, total, final=False)
                        last = time.monotonic()
        if progress:
            _show(dest.name, done, total, final=True)
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise DatasetError(f"archive {dest.name} from {url}: SHA-256 {actual} differs from the recorded {sha256}")
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest


def safe_tar_members(archive: tarfile.TarFile, into: Path) -> list[tarfile.TarInfo]:
    """The members of ``archive`` if all are safe to extract into ``into``; the checks of Python's ``"data"``
    extraction filter that matter here: files, folders and links only, none of them (nor a link's target) outside
    ``into``. Raises :class:`tarfile.TarError` naming the first unsafe member."""
    root = into.resolve()
    members = archive.getmembers()
    for member in members:
        place = (root / member.name).resolve()
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise tarfile.TarError(f"member {member.name!r} is not a file, folder or link")
        if not place.is_relative_to(root):
            raise tarfile.TarError(f"member {member.name!r} would be extracted outside the folder")
        if member.issym() or member.islnk():
            base = place.parent if member.issym() else root
            if not (base / member.linkname).resolve().is_relative_to(root):
                raise tarfile.TarError(f"link {member.name!r} points outside the folder")
    return members


def extract(file: Path, kind: Extract, into: Path) -> None:
    """Unpack ``file`` into the folder ``into`` (created); ``none`` moves the file there."""
    into.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "zip":
            with zipfile.ZipFile(file) as archive:
                archive.extractall(into)  # zipfile drops absolute and '..' parts of member names
        elif kind == "tar":
            with tarfile.open(file) as archive:
                if hasattr(tarfile, "data_filter"):
                    archive.extractall(into, filter="data")
                else:  # Python before 3.10.12 / 3.11.4 (e.g. Debian 12's 3.11.2) has no extraction filters
                    archive.extractall(into, members=safe_tar_members(archive, into))
        else:
            os.replace(file, into / file.name)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
        raise DatasetError(f"archive {file.name} cannot be extracted as {kind}: {err}") from err


def archive_root(unpacked: Path, archive: Archive, layout: Sequence[tuple[str, int]]) -> Path:
    """The folder of ``unpacked`` whose contents belong at the data set's root (see the module notes)."""
    if archive.member is not None:
        root = unpacked / archive.member
        if not root.is_dir():
            raise DatasetError(f"archive {archive.filename} has no folder '{archive.member}'")
        return root
    tops = {pattern.split("/")[0] for pattern, _ in layout if "/" in pattern}
    root = unpacked
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith(".") and p.name not in _SKIPPED_NAMES]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].name in tops:
            return root
        root = entries[0]


def _merge(source: Path, dest: Path) -> None:
    """Move the contents of ``source`` into ``dest``, merging folders that both have (REDS' ``train/``)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name in _SKIPPED_NAMES:
            continue
        there = dest / item.name
        if item.is_dir() and there.is_dir():
            _merge(item, there)
        else:
            os.replace(item, there)


def _occupied(target: Path) -> bool:
    return target.is_symlink() or target.is_file() or (target.is_dir() and any(target.iterdir()))


def _check_target(spec: DatasetSpec, target: Path) -> None:
    if not _occupied(target):
        return
    if target.is_dir() and layout_holds(spec, target):
        report = verify(spec, target)
        if report.ok:
            raise TargetExistsError(
                f"'{target}' already holds {spec.name} and verifies: nothing to do (--force downloads it again)",
                complete=True,
            )
        first = report.problems[0]
    else:
        first = "its layout does not hold"
    raise TargetExistsError(
        f"'{target}' exists but is not a complete {spec.name} ({first}); --force replaces it", complete=False
    )


def download(
    spec: DatasetSpec,
    target: str | os.PathLike,
    *,
    urls: Sequence[str] = (),
    mirror: str | None = None,
    force: bool = False,
    progress: bool = False,
) -> Report:
    """Fetch, check and extract ``spec`` into the folder ``target``; return the verification of the result.

    Raises :class:`TargetExistsError` when ``target`` is in use and not ``force``, :class:`OfflineError` when a URL
    cannot be fetched, :class:`DatasetError` for a bad archive, ``ValueError`` for inconsistent ``urls``/``mirror``.
    """
    target = Path(target).expanduser().absolute()
    if spec.manual and not (urls or mirror):
        raise DatasetError(
            f"no download URL could be confirmed for {spec.name}; give --url, or by hand: {manual_steps(spec, target)}"
        )
    archives = resolve_archives(spec, urls, mirror)
    if not force:
        _check_target(spec, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.download-", dir=target.parent))
    try:
        fetched, tree = staging / "fetched", staging / "tree"
        fetched.mkdir()
        tree.mkdir()
        for i, archive in enumerate(archives):
            try:
                file = fetch(archive.url, fetched / archive.filename, sha256=archive.sha256, progress=progress)
            except OfflineError as err:
                raise OfflineError(f"{err}. By hand: {manual_steps(spec, target)}") from err
            except DatasetError as err:
                raise DatasetError(f"{err}; nothing was written to '{target}'") from err
            unpacked = staging / f"unpacked-{i}"
            extract(file, archive.extract, unpacked)
            file.unlink(missing_ok=True)
            _merge(archive_root(unpacked, archive, spec.layout), tree)
        if _occupied(target) or target.is_dir():
            os.replace(target, staging / "replaced")  # same file system: a rename, then the new tree takes its name
        os.replace(tree, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return verify(spec, target)
