"""What every benchmark needs: a step timer, device synchronisation, the machine's CPU name, the process's peak
memory, the code version."""

from __future__ import annotations

import functools
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from deblur_core.files import atomic_write_text
from deblur_core.process_memory import peak_resident_bytes


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (CUDA kernels run asynchronously); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(Callback):
    """Wall-clock seconds of every training batch (CUDA work included).

    The seconds travel in checkpoints, so that a resumed run adds to the batches timed before it stopped.
    """

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        synchronize(pl_module.device)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        synchronize(pl_module.device)
        self.seconds.append(time.perf_counter() - self._start)

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": list(self.seconds)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seconds = [float(s) for s in state_dict["seconds"]]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (not its parent's: see deblur_core.process_memory)."""
    return peak_resident_bytes() / 2**20


@functools.cache
def code_version() -> str | None:
    """``git rev-parse --short HEAD`` of this source tree (``+ uncommitted changes`` if dirty), or None; asked once
    per process (the code a process runs is the code it imported)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False)

    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + (" + uncommitted changes" if dirty else "")


NOTES_MARKER = "<!-- end of the generated part: text below this line is kept by --overwrite -->"


class ReportExistsError(FileExistsError):
    """A report file exists and overwriting it was not asked for."""


def machines_text(rows: list[dict[str, Any]]) -> str:
    """``"Machine: <cpu>, <n> threads; torch <version>"`` when every row ran on one machine, else ``"Machines of the
    rows: A / B"`` listing each once, in order of first appearance."""

    def machine(row: dict[str, Any]) -> str:
        threads = row.get("threads", "?")
        return f"{row.get('cpu', '?')}, {threads} thread{'' if threads == 1 else 's'}; torch {row.get('torch', '?')}"

    machines = list(dict.fromkeys(machine(r) for r in rows or [{}]))
    return f"Machine: {machines[0]}" if len(machines) == 1 else f"Machines of the rows: {' / '.join(machines)}"


def write_report(path: Path, text: str, overwrite: bool) -> None:
    """Write ``text`` to ``path`` atomically; an existing file needs ``overwrite``, and its hand-written notes (what
    follows :data:`NOTES_MARKER`) are kept."""
    if path.exists():
        if not overwrite:
            raise ReportExistsError(
                f"{path} exists; pass --overwrite to replace it (its notes below the marker are kept)"
            )
        old = path.read_text()
        if NOTES_MARKER in old and NOTES_MARKER in text:
            text = text[: text.index(NOTES_MARKER)] + NOTES_MARKER + old.split(NOTES_MARKER, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def cell(value: float | None, digits: int) -> str:
    """A number for a Markdown table, ``"–"`` for a missing one."""
    return "–" if value is None else f"{value:.{digits}f}"
