"""The packages' boundaries: the two papers share only :mod:`deblur_core`, and the wheel ships no benchmark.

* ``reblur`` never imports ``selfdeblur`` and ``selfdeblur`` never imports ``reblur``; ``deblur_core`` imports
  neither; no package imports ``benchmarks`` or ``tests`` (checked in the source, and by importing every module
  of a package in a fresh interpreter);
* the wheel holds the three packages and their data files, and nothing from ``benchmarks/``, ``tests/``,
  ``notebooks/`` or ``data/``.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGES = ("deblur_core", "selfdeblur", "reblur")
FORBIDDEN = {
    "deblur_core": {"selfdeblur", "reblur", "benchmarks", "tests"},
    "selfdeblur": {"reblur", "benchmarks", "tests"},
    "reblur": {"selfdeblur", "benchmarks", "tests"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports (at any depth in the file, lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args:
            target = node.args[0]
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                names.add(target.value.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_no_source_file_imports_across_the_boundary(package):
    crossing = {
        str(path.relative_to(REPO)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((REPO / package).rglob("*.py"))
    }
    assert {file: names for file, names in crossing.items() if names} == {}


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_every_module_loads_no_forbidden_package(package):
    probe = (
        "import importlib, pkgutil, sys\n"
        f"import {package}\n"
        f"for info in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    if not info.name.endswith('__main__'):\n"
        "        importlib.import_module(info.name)\n"
        f"loaded = sorted({{name.split('.')[0] for name in sys.modules}} & {set(FORBIDDEN[package])!r})\n"
        "print('loaded:', loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("loaded: []")


def test_the_wheel_ships_the_packages_and_their_data_but_no_benchmark(tmp_path):
    # The repository's own files (benchmarks included, so that leaving them out is tested), not the caches, the
    # venv or data sets downloaded into the ignored parts of data/.
    source = tmp_path / "source"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    assert (source / "benchmarks" / "common.py").is_file()
    out = tmp_path / "wheel"
    build = "from setuptools import build_meta; import sys; print(build_meta.build_wheel(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=source, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(out / result.stdout.strip().splitlines()[-1]) as wheel:
        names = wheel.namelist()
        entry_points = next(name for name in names if name.endswith("entry_points.txt"))
        scripts = wheel.read(entry_points).decode()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == set(PACKAGES)
    assert not [name for name in names if "benchmark" in name.lower()]
    assert "reblur/metrics/niqe_pris_params.npz" in names
    assert "deblur_core/datasets/checksums/levin.sha256" in names
    for script in ("selfdeblur = selfdeblur.cli:main", "reblur = reblur.cli:main", "deblur-datasets ="):
        assert script in scripts
