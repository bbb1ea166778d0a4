"""Keep freed CPU memory in the process for reuse, so that large tensors stop costing page faults.

glibc's ``malloc`` serves a request above its mmap threshold (adjusted at run time, at most 32 MiB on
64-bit Linux) with freshly mapped pages and gives them back to the system when the block is freed.
PyTorch's CPU allocator takes every tensor from ``malloc``, so a tensor larger than 32 MiB is mapped,
faulted in page by page (the kernel zero-fills each 4 KiB page) and unmapped again every time it is made.
SelfDeblur at Levin's size makes dozens of such tensors per step: each 128-channel feature map at full
resolution is 128 x 271 x 271 float32 = 37.6 MB (about 9,200 pages), in the forward pass, again for its
gradient, and for every padded or concatenated copy. What that costs per step, and what keeping freed memory
saves (with bitwise the same results), is measured in docs/performance.md ("freed host memory kept").

:func:`keep_freed_host_memory` sets two documented ``mallopt`` parameters: ``M_MMAP_MAX = 0`` (large blocks
come from the heap too) and ``M_TRIM_THRESHOLD = -1`` (freed heap memory is never given back), so a block
freed in one step is reused in the next without faults. The price: memory the process used at its peak
stays with it until it ends, and the peak itself grows because blocks of different sizes reuse the same
heap with gaps between them (by how much: docs/performance.md). The setting is for the whole process and
cannot be undone; elsewhere than glibc (macOS, musl) nothing is changed.

:class:`KeepFreedHostMemory` applies it when a Trainer runs on the CPU; ``selfdeblur fit`` adds it (turn it
off with ``--host_memory.enabled false``) and so does :func:`selfdeblur.api.solver_trainer`.

Example::

    >>> from selfdeblur.host_memory import keep_freed_host_memory
    >>> keep_freed_host_memory()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

# <malloc.h> parameter numbers (glibc).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

_applied = False


def runs_on_glibc() -> bool:
    """Whether this process's C library is glibc (the only one whose policy is changed here)."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _glibc() -> ctypes.CDLL | None:
    if not runs_on_glibc():
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def keep_freed_host_memory() -> bool:
    """Make glibc keep freed memory for reuse (``M_MMAP_MAX = 0``, ``M_TRIM_THRESHOLD = -1``).

    Returns ``True`` when the policy is in force in this process (set now or by an earlier call),
    ``False`` where the C library is not glibc or refused a parameter (then nothing is changed).
    """
    global _applied
    if _applied:
        return True
    libc = _glibc()
    if libc is None:
        return False
    # mallopt returns 1 on success, 0 on error; M_MMAP_MAX is set first because trimming alone does
    # not keep blocks above the mmap threshold.
    if libc.mallopt(M_MMAP_MAX, 0) != 1:
        return False
    if libc.mallopt(M_TRIM_THRESHOLD, -1) != 1:
        return False
    _applied = True
    return True


class KeepFreedHostMemory(Callback):
    """Calls :func:`keep_freed_host_memory` when the Trainer's device is the CPU.

    On a GPU the feature maps live in CUDA's own caching allocator, so nothing is changed there. With
    ``enabled=False`` the callback does nothing (it cannot undo a policy set earlier in the process).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.applied = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.enabled and trainer.strategy.root_device.type == "cpu":
            self.applied = keep_freed_host_memory()
