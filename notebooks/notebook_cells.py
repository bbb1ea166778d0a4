"""Shared by the ``make_*_walkthrough.py`` generators: a notebook (without outputs) from a list of cells."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def build_notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """``cells``: ``("md" | "code", source)`` pairs, in order."""
    built = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in cells]
    for number, cell in enumerate(built):
        cell.id = f"cell-{number:02d}"  # stable ids: regenerating gives the same file
    notebook = new_notebook(cells=built)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def write_notebook(cells: list[tuple[str, str]], target: Path) -> None:
    nbformat.write(build_notebook(cells), target)
    print(f"wrote {target}")
