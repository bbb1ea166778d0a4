"""Checking a checkpoint a user names (``--ckpt_path``) before a run starts, with an error that names the file.

A file that is not a checkpoint of this project would otherwise fail inside Lightning, after the data and the
networks were set up, with torch's message (which, for a file that is not a weights-only checkpoint, suggests
loading it with ``weights_only=False``: never do that with a file you do not trust; it runs arbitrary code).
"""

from __future__ import annotations

from pathlib import Path

import torch

from deblur_core.cli_errors import UsageError

# Values Lightning resolves itself (the newest/best checkpoint of the run's ModelCheckpoint, SLURM's, a registry).
LIGHTNING_NAMES = ("last", "best", "hpc", "registry")


def check_checkpoint(path: str | None) -> None:
    """Raise :class:`UsageError` unless ``path`` is ``None``, a name Lightning resolves, or a Lightning checkpoint
    whose ``state_dict`` holds this project's deblurring network (``deblur_net.*``)."""
    if path is None or path in LIGHTNING_NAMES or str(path).startswith("registry:"):
        return
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"--ckpt_path '{path}': no such file")
    hint = "give a .ckpt file that `reblur fit` wrote (in <default_root_dir>/checkpoints)"
    try:
        checkpoint = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # torch raises several types here; every one means "not a readable checkpoint"
        raise UsageError(
            f"--ckpt_path '{path}' is not a checkpoint of this project: torch cannot read it as a weights-only "
            f"checkpoint ({type(err).__name__}; a truncated download, or another kind of file); {hint}"
        ) from err
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not any(str(key).startswith("deblur_net.") for key in state):
        raise UsageError(f"--ckpt_path '{path}' is not a checkpoint of this project (no deblur_net weights); {hint}")
