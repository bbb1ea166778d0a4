"""How many processes a Trainer's device options start, read before the Trainer exists.

Both commands choose their strategy from it: ``selfdeblur`` gives each process its own images, ``reblur`` turns
DDP's detection of unused parameters on (M_R does not take part in every step).
"""

from __future__ import annotations

from typing import Any

# Accelerators whose "auto" or -1 device count is one process (Lightning rejects -1 for the CPU itself).
_SINGLE_BY_DEFAULT = ("cpu", "mps", "tpu")


def asks_for_several_processes(devices: Any = "auto", accelerator: Any = "auto", num_nodes: Any = 1) -> bool:
    """Whether Lightning's ``devices``, ``accelerator`` and ``num_nodes`` values mean more than one process.

    ``devices`` as Lightning takes it: an int, a list of indices, or a string (``"2"``, ``"0,1"``, ``"0,"``,
    ``"auto"``, ``"-1"``); ``"auto"`` and ``-1`` count the visible GPUs unless the accelerator is the CPU.

    >>> asks_for_several_processes("0,1"), asks_for_several_processes("0,"), asks_for_several_processes(1, "cpu", 2)
    (True, False, True)
    """
    if int(num_nodes or 1) > 1:
        return True
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    text = str("auto" if devices is None else devices).strip()
    if "," in text:
        return len([d for d in text.split(",") if d.strip()]) > 1
    if text in ("auto", "-1"):
        if str(accelerator) in _SINGLE_BY_DEFAULT:
            return False
        import torch

        return torch.cuda.device_count() > 1
    return text.isdigit() and int(text) > 1
