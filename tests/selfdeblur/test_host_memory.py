"""Freed host memory is kept for reuse: a large tensor made again costs no page faults (glibc only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from selfdeblur import host_memory
from selfdeblur.host_memory import runs_on_glibc

# Minor page faults counted by the kernel (getrusage) while a 64 MiB tensor is made and filled 4 times,
# before and after the policy is set. 64 MiB is above glibc's largest mmap threshold (32 MiB), so with
# the system's policy each tensor is mapped afresh: 16,384 faults of 4 KiB pages each time. With the
# policy, the heap takes a few rounds to hold a free block that fits, then the same block is reused.
SCRIPT = """
import json, resource, torch
from selfdeblur.host_memory import keep_freed_host_memory

def faults(times=4, numel=16 * 2**20):
    for _ in range(8):  # the first few may fault under any policy, until the heap holds a block that fits
        torch.empty(numel).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        torch.empty(numel).fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

system = faults()
applied = keep_freed_host_memory()
print(json.dumps({"system": system, "applied": applied, "again": keep_freed_host_memory(), "kept": faults()}))
"""


@pytest.mark.skipif(not runs_on_glibc(), reason="the policy is glibc's")
def test_freed_memory_is_reused_without_page_faults():
    # Huge pages would hide the faults being counted; PyTorch asks for them only with this variable.
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "0"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    pages = 4 * 64 * 2**20 // 4096
    assert result["applied"] and result["again"]
    assert result["system"] >= 0.9 * pages  # each tensor faulted in afresh
    assert result["kept"] <= 0.01 * pages  # the same block reused


def test_callback_leaves_gpu_runs_and_disabled_runs_alone(monkeypatch):
    calls = []
    monkeypatch.setattr(host_memory, "keep_freed_host_memory", lambda: calls.append(1) or True)

    def trainer(device):
        return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))

    host_memory.KeepFreedHostMemory().setup(trainer("cuda:0"), None, "fit")
    host_memory.KeepFreedHostMemory(enabled=False).setup(trainer("cpu"), None, "fit")
    assert calls == []
    callback = host_memory.KeepFreedHostMemory()
    callback.setup(trainer("cpu"), None, "fit")
    assert calls == [1] and callback.applied
