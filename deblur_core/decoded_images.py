"""Checking that image files decode completely, once: the result is remembered per file (path, size, mtime).

A PNG whose header is valid but whose body is truncated opens (the header is all ``Image.open`` reads) and fails
only when its pixels are decoded, which in training happens mid-epoch. Decoding every file of a data set before
training catches it; this module makes that cheap after the first time by remembering the files that decoded,
keyed by their absolute path, byte size and modification time (a file that changes is decoded again).

The memory is one JSON file, ``decoded_images.json``, in ``$DEBLUR_CACHE_DIR``, else ``$XDG_CACHE_HOME/deblur``,
else ``~/.cache/deblur``. It only lists files that decoded; a file that fails is checked again next time. If the
folder cannot be written the check still runs, without remembering.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from deblur_core.files import atomic_write_text

CACHE_NAME = "decoded_images.json"


def cache_file() -> Path:
    """Where the decoded files are remembered (see the module docstring)."""
    folder = os.environ.get("DEBLUR_CACHE_DIR")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = str(Path(base) / "deblur")
    return Path(folder) / CACHE_NAME


def _key(path: Path) -> tuple[str, list[int]] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path.resolve()), [stat.st_size, stat.st_mtime_ns]


def _decode(path: Path) -> str | None:
    """``None`` if every pixel of ``path`` decodes, else why not."""
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as err:  # PIL raises many types for bad files; any of them means unusable
        return f"cannot decode image '{path}': {type(err).__name__}: {err}"
    return None


def _read_cache(file: Path) -> dict[str, list[int]]:
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def decode_problems(paths: Iterable[Path], cache: Path | None = None) -> dict[Path, str]:
    """Decode every file of ``paths`` not remembered as decoded; return ``{path: why}`` for those that fail.

    ``cache`` is the memory file (default :func:`cache_file`). Files decode in a few threads (PIL releases the GIL
    while decoding).
    """
    file = cache_file() if cache is None else cache
    remembered = _read_cache(file)
    keys = {path: _key(path) for path in paths}
    todo = [path for path, key in keys.items() if key is None or remembered.get(key[0]) != key[1]]
    if not todo:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        results = dict(zip(todo, pool.map(_decode, todo)))
    problems = {path: why for path, why in results.items() if why is not None}
    decoded = dict(key for path, why in results.items() if why is None and (key := keys[path]) is not None)
    if decoded:
        remembered = _read_cache(file)  # another process may have added files meanwhile
        remembered.update(decoded)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(file, json.dumps(remembered))
        except OSError:
            pass  # a read-only home: checked again next time, nothing lost
    return problems
