"""This process's memory as the operating system counts it (resident set size, in bytes).

On Linux both figures come from ``/proc/self``, which belongs to the current address space: a process started
with ``subprocess`` (``vfork`` + ``exec``) does not inherit its parent's peak there, whereas ``getrusage``'s
``ru_maxrss`` keeps the larger of the two across ``exec`` and so reports the parent's peak when the parent was
bigger (a test suite, a notebook). ``ru_maxrss`` is only the fallback for systems without ``/proc``.
"""

from __future__ import annotations

import os
import resource
import sys


def resident_bytes() -> int:
    """Resident memory now (``/proc/self/statm``; 0 where unknown)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_resident_bytes() -> int:
    """Peak resident memory of this address space so far (``VmHWM`` of ``/proc/self/status``; elsewhere
    ``ru_maxrss``, in kilobytes on Linux and bytes on macOS)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
