"""Execute notebooks at full size and store their outputs in the files, as the repository keeps them.

Usage, from the repository root (the notebooks write their results under ``results/`` there)::

    python notebooks/execute.py                       # every notebook of this folder
    python notebooks/execute.py selfdeblur_walkthrough.ipynb

Each notebook runs top to bottom in a fresh ``python3`` kernel of this interpreter, without
``NOTEBOOK_QUICK`` (full size), with matplotlib's inline backend, and is written back with its outputs. A
notebook whose run fails is left as it was.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbclient
import nbformat

HERE = Path(__file__).resolve().parent


def execute(path: Path, working_dir: Path) -> float:
    """Run ``path`` in ``working_dir`` and write it back with its outputs; returns the seconds it took."""
    notebook = nbformat.read(path, as_version=4)
    os.environ.pop("NOTEBOOK_QUICK", None)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=None, resources={"metadata": {"path": str(working_dir)}}
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(notebook, path)
    return seconds


def main(names: list[str]) -> None:
    paths = [HERE / name for name in names] if names else sorted(HERE.glob("*.ipynb"))
    for path in paths:
        seconds = execute(path, Path.cwd())
        print(f"executed {path.name} at full size in {seconds / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
