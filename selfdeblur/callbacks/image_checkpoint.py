"""Keeping the image being solved: its optimisation state every N steps or M minutes, resumed by a rerun."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities.exceptions import SIGTERMException

from deblur_core.files import atomic_write
from deblur_core.save_schedule import SaveSchedule
from selfdeblur.callbacks.progress_bar import say
from selfdeblur.callbacks.result_writer import ResultWriter
from selfdeblur.data import GroupBatch
from selfdeblur.settings_record import differences, flat_settings

if TYPE_CHECKING:
    from selfdeblur.lightning_module import SelfDeblur

FOLDER = ".in_progress"


class ImageCheckpoint(Callback):
    """Save the state of the group being solved every ``every_n_steps`` steps and/or every ``every_minutes``
    minutes, so that a stopped run, started again with the same command, continues the group where it was instead
    of from step 0.

    The state (:meth:`SelfDeblur.solver_state`: G_x, G_k, their inputs, the Adam states, the input-noise
    generators, the step) goes to ``<output folder>/.in_progress/<group>.pt``, written under a temporary name and
    renamed, and is removed once the group's results are written; a finished image is only ever one with a summary
    row (:class:`ResultWriter`). On the CPU a resumed run ends bit for bit where the uninterrupted run would have.
    A state saved with other settings (options, seed, precision, kernel size) is not used: the group starts again
    from step 0, and the run says so. A run stopped by SIGTERM (``kill``, a cluster's pre-emption; Lightning
    ends it after the step in progress) saves the state of its last step at once, whatever the schedule.

    Args:
        every_n_steps: save after every this many steps (``None``: not by count).
        every_minutes: save when this many minutes passed since the group started or the last save (``None``: not
            by time). The default keeps at most 10 minutes of work at risk, at the cost of one small file write.
    """

    def __init__(self, every_n_steps: int | None = None, every_minutes: float | None = 10.0) -> None:
        self.schedule = SaveSchedule(
            every_n_steps, every_minutes, "resume.every_n_steps", "resume.every_minutes", none="null"
        )
        self.folder: Path | None = None
        self._last: tuple[list[str], int] | None = None  # the names and steps done of the last finished step

    # -- where ----------------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        writer = next((c for c in trainer.callbacks if isinstance(c, ResultWriter)), None)  # type: ignore[attr-defined]
        root = Path(writer.dir) if writer is not None and writer.dir else Path(trainer.default_root_dir)
        self.folder = root / FOLDER

    def path(self, names: list[str]) -> Path:
        """The state file of the group of ``names`` (its key: a hash of the names, which may hold folders)."""
        assert self.folder is not None  # set in setup
        key = hashlib.sha256("\n".join(names).encode()).hexdigest()[:20]
        return self.folder / f"{key}.pt"

    # -- resume ---------------------------------------------------------------------------------------
    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, *args: Any) -> None:
        if not isinstance(batch, GroupBatch) or batch.idle or batch.step != 0:
            return
        module = cast("SelfDeblur", pl_module)
        self.schedule.restart()
        path = self.path(batch.names)
        if not path.is_file():
            return
        # Build the group now (the module would at its own hook, which runs after this one) to load into it.
        module.start_group(batch)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a file cut short by a crash of the machine: start the group again
            say(trainer, f"{', '.join(batch.names)}: in-progress state '{path}' unreadable ({err}); from step 0")
            return
        expected = {"kernel_sizes": batch.kernel_sizes, "names": batch.names}
        other = any(state.get(key) != value for key, value in expected.items())
        if other or differences(flat_settings(state.get("settings") or {}), flat_settings(module.settings())):
            say(trainer, f"{', '.join(batch.names)}: in-progress state made with other settings; from step 0")
            return
        module.load_solver_state(state)
        say(trainer, f"{', '.join(batch.names)}: resuming from step {state['steps_done']} ('{path}')")

    # -- save -----------------------------------------------------------------------------------------
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        if not isinstance(batch, GroupBatch) or batch.idle:
            return
        module = cast("SelfDeblur", pl_module)
        steps_done = batch.step + 1
        path = self.path(batch.names)
        if steps_done == module.steps:
            # The results are written (the ResultWriter comes first): the state is no longer needed.
            path.unlink(missing_ok=True)
            self._last = None
            return
        self._last = (batch.names, steps_done) if steps_done > module.resumed_steps else None
        if self._last is not None and self.schedule.due(steps_done):
            self.save(module, path, steps_done)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # Lightning raises SIGTERMException between steps, so the module holds the state after the last one. Other
        # exceptions (an interrupt, an error) may come in the middle of a step: their state is not saved.
        if not isinstance(exception, SIGTERMException) or self._last is None:
            return
        names, steps_done = self._last
        path = self.path(names)
        self.save(cast("SelfDeblur", pl_module), path, steps_done)
        say(trainer, f"{', '.join(names)}: stopped after step {steps_done}; the same command continues from there")

    def save(self, module: SelfDeblur, path: Path, steps_done: int) -> None:
        state = module.solver_state(steps_done)
        atomic_write(path, lambda temporary: torch.save(state, temporary))
        self.schedule.saved()
