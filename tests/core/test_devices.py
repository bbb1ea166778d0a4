"""How many processes Lightning's device options start, as both commands read them to choose a strategy."""

from __future__ import annotations

import pytest
import torch

from deblur_core.devices import asks_for_several_processes


@pytest.mark.parametrize(
    ("devices", "accelerator", "num_nodes", "several"),
    [
        (1, "auto", 1, False),
        ("1", "cpu", 1, False),
        (2, "cpu", 1, True),
        ("2", "gpu", 1, True),
        ([0, 1], "gpu", 1, True),
        ([1], "gpu", 1, False),
        ("0,", "gpu", 1, False),  # Lightning's one-GPU list
        ("0,1", "gpu", 1, True),
        ("auto", "cpu", 1, False),
        ("-1", "cpu", 1, False),
        (1, "cpu", 2, True),  # one process on each of two nodes
        (None, "cpu", None, False),  # options left unset
    ],
)
def test_device_options_are_read_as_lightning_does(devices, accelerator, num_nodes, several):
    assert asks_for_several_processes(devices, accelerator, num_nodes) is several


@pytest.mark.parametrize("devices", ["auto", -1, "-1"])
def test_auto_counts_the_visible_gpus(devices, monkeypatch):
    for count, several in ((1, False), (4, True)):
        monkeypatch.setattr(torch.cuda, "device_count", lambda count=count: count)
        assert asks_for_several_processes(devices, "auto") is several
        assert asks_for_several_processes(devices, "gpu") is several
