"""Fixtures and rules shared by the whole suite.

Reference tests (``@pytest.mark.reference``: checked against published values, or on data sets that only
``../shared`` holds) skip with a reason when what they need cannot be had. Where ``../shared`` exists, as in
this project's CI, such a skip is turned into a failure: there the data and weights are on the machine, so a
skip would hide a broken check.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from tests.helpers import REPO, SHARED

LEVIN = REPO / "data" / "levin"
LPIPS_BACKBONES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_configure(config: pytest.Config) -> None:
    # The memory of decoded images (deblur_core.decoded_images) goes to a folder of this run, not to ~/.cache;
    # subprocesses of the tests inherit it.
    os.environ.setdefault("DEBLUR_CACHE_DIR", tempfile.mkdtemp(prefix="deblur-test-cache-"))
    config.addinivalue_line(
        "markers", "reference: checked against published values or ../shared data; may only skip without ../shared"
    )
    config.addinivalue_line("markers", "slow: benchmarks and measurement scripts (still part of the default run)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    expected_failure = hasattr(report, "wasxfail")
    if report.skipped and not expected_failure and item.get_closest_marker("reference") and SHARED.is_dir():
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"reference test skipped on a machine with {SHARED} (CI must run it): {reason}"


@pytest.fixture
def levin() -> Path:
    """The Levin et al. benchmark shipped in ``data/levin``."""
    return LEVIN


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """Tests run in their own folder: nothing they write lands in the repository."""
    monkeypatch.chdir(tmp_path)


def _has_backbones(home: Path) -> bool:
    return all((home / "hub" / "checkpoints" / name).is_file() for name in LPIPS_BACKBONES.values())


@pytest.fixture(scope="session")
def _torch_hub_home(tmp_path_factory) -> Path:
    """A torch hub cache holding the ImageNet AlexNet and VGG16 weights that LPIPS and the VGG loss load.

    In order: the user's own cache if it has them; on this project's machines (no internet),
    ``../shared/tools/seed_torch_hub.py`` seeds a fresh one; elsewhere torchvision's normal download fills a
    fresh one. When none works the tests that need it skip, saying where the files go.
    """
    own = Path(torch.hub.get_dir()).parent
    if _has_backbones(own):
        return own
    home = tmp_path_factory.mktemp("torch_home")
    tool = SHARED.parent / "tools" / "seed_torch_hub.py"
    if tool.is_file():
        subprocess.run([sys.executable, str(tool), str(home)], check=True, capture_output=True)
        return home
    download = (
        "import torchvision\n"
        "torchvision.models.alexnet(weights='IMAGENET1K_V1')\n"
        "torchvision.models.vgg16(weights='IMAGENET1K_V1')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", download], env={**os.environ, "TORCH_HOME": str(home)}, capture_output=True, text=True
    )
    if done.returncode != 0 or not _has_backbones(home):
        files = " and ".join(LPIPS_BACKBONES.values())
        pytest.skip(
            f"the ImageNet AlexNet/VGG16 weights could not be had (no internet?): put {files} into "
            f"{own / 'hub' / 'checkpoints'} (or $TORCH_HOME/hub/checkpoints) and run the tests again"
        )
    return home


@pytest.fixture
def seeded_torch_hub(_torch_hub_home, monkeypatch) -> Path:
    """``TORCH_HOME`` pointing at a cache with the ImageNet backbones, for the duration of one test."""
    monkeypatch.setenv("TORCH_HOME", str(_torch_hub_home))
    return _torch_hub_home
