"""Every notebook in ``notebooks/`` runs top to bottom, with the small parameters CI can afford.

The notebooks' own ``assert`` cells check their claims; a failing cell fails the test with the
cell's traceback. Each notebook runs in a fresh kernel whose working directory is ``tmp_path``, so
nothing is written into the repository, and with ``NOTEBOOK_QUICK=1`` in its environment
(each notebook shrinks its parameters when it is set; see ``notebooks/README.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

# One flag for every notebook of the folder, so a new notebook is quick in CI without touching this file.
QUICK_ENV = {"NOTEBOOK_QUICK": "1"}


def kernel_uses_this_interpreter() -> bool:
    """Whether the ``python3`` kernelspec starts this interpreter (so the kernel sees this venv's packages).

    jupyter_client replaces a bare ``python``/``python3`` in the kernel command by ``sys.executable``;
    a user- or system-wide kernelspec naming another interpreter would shadow ipykernel's own.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    executable = KernelSpecManager().get_kernel_spec("python3").argv[0]
    bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    return executable in bare or Path(executable).resolve() == Path(sys.executable).resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert kernel_uses_this_interpreter(), (
        "the 'python3' Jupyter kernel runs another interpreter than this one; "
        "`python -m ipykernel install --user` from this environment fixes it"
    )
    for name, value in QUICK_ENV.items():
        monkeypatch.setenv(name, value)
    # The kernel inherits this environment. Jupyter's inline backend needs no display and, unlike Agg,
    # renders every figure (to PNG, in the cell outputs), so the plotting is exercised too; it also
    # overrides a GUI backend that MPLBACKEND may name on a developer's machine.
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    )
    # Raises CellExecutionError, with the cell's traceback, at the first cell that fails.
    client.execute()
