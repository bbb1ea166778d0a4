"""Resident memory of this process, not of its parent (deblur_core.process_memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deblur_core.process_memory import peak_resident_bytes, resident_bytes
from tests.helpers import REPO

MIB = 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self as Linux has it")
def test_a_child_reports_its_own_peak_not_its_bigger_parents():
    # The parent touches 512 MiB; a child started afterwards holds about a Python interpreter (tens of MiB).
    # getrusage's ru_maxrss would report the parent's peak there (it survives exec); the CI once measured it so.
    held = bytearray(512 * MIB)
    held[::4096] = b"\x01" * len(held[::4096])
    assert peak_resident_bytes() >= resident_bytes() >= 512 * MIB
    child = "from deblur_core.process_memory import peak_resident_bytes as p; print(p())"
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=REPO, check=True)
    assert 0 < int(run.stdout) < 256 * MIB
    del held


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self as Linux has it")
def test_the_peak_counts_memory_already_given_back():
    before = peak_resident_bytes()
    held = bytearray(256 * MIB)
    held[::4096] = b"\x01" * len(held[::4096])
    during = resident_bytes()
    del held
    assert peak_resident_bytes() >= max(before, during) >= 256 * MIB
