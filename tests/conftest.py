from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
LEVIN = SHARED / "levin"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def tiny_model_options() -> dict:
    """A small G_x (2 scales of 8 channels) so that CPU tests take a fraction of a second per step."""
    return {"image_channels": [8, 8], "skip_channels": [4, 4], "non_local_scales": 1, "kernel_hidden": [32]}


@pytest.fixture
def levin() -> Path:
    if not LEVIN.is_dir():
        pytest.skip(f"Levin data not available at {LEVIN}")
    return LEVIN


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """Tests run in their own folder: nothing they write lands in the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def _torch_hub_home(tmp_path_factory) -> Path:
    """A torch hub cache seeded with the ImageNet AlexNet/VGG16 weights by ``../shared/tools/seed_torch_hub.py``."""
    tool = SHARED.parent / "tools" / "seed_torch_hub.py"
    if not tool.is_file():
        pytest.skip(f"torch hub seeding tool not available at {tool}")
    home = tmp_path_factory.mktemp("torch_home")
    subprocess.run([sys.executable, str(tool), str(home)], check=True, capture_output=True)
    return home


@pytest.fixture
def seeded_torch_hub(_torch_hub_home, monkeypatch) -> Path:
    """``TORCH_HOME`` pointing at the seeded cache for the duration of one test."""
    monkeypatch.setenv("TORCH_HOME", str(_torch_hub_home))
    return _torch_hub_home
