"""Several devices for SelfDeblur: one process per device, each solving its own share of the images.

SelfDeblur's images are independent problems, so nothing is averaged between devices: the
:class:`IndependentRanks` strategy launches and connects the processes as Lightning's DDP does
(``--trainer.devices N``, one process per GPU or, for tests, per CPU process with gloo), but does
not wrap the module in ``DistributedDataParallel``; there would be nothing to synchronise, and the
generators are built per group, after the wrap. The DataModule gives each rank every
``world_size``-th group of images (:meth:`selfdeblur.data.SelfDeblurDataModule.train_dataloader`),
and the result writer merges the ranks' summaries at the end.

Registered as ``--trainer.strategy independent_ranks``; ``selfdeblur fit`` picks it whenever more
than one device is asked for.

Example::

    selfdeblur fit --config configs/selfdeblur/levin.yaml --trainer.devices 4
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytorch_lightning.strategies import DDPStrategy, StrategyRegistry

NAME = "independent_ranks"


class IndependentRanks(DDPStrategy):
    """DDP's processes without DDP's gradient averaging (see the module docstring).

    The process group stays: Lightning uses it for a few collectives (a termination signal each
    step, barriers), which is why every rank runs the same number of steps (a rank with a smaller
    share idles through its last ones). Its timeout defaults to a week, as a rank may wait for the
    others' last image for as long as one image takes.
    """

    strategy_name = NAME

    def __init__(self, *args: Any, timeout: timedelta | None = timedelta(days=7), **kwargs: Any) -> None:
        # mypy cannot tell that the positional arguments stop short of DDPStrategy's own timeout position.
        super().__init__(*args, timeout=timeout, **kwargs)  # type: ignore[misc]

    def configure_ddp(self) -> None:
        # No DistributedDataParallel wrapper: each rank's parameters are its own.
        pass


if NAME not in StrategyRegistry:
    StrategyRegistry.register(NAME, IndependentRanks, description=(IndependentRanks.__doc__ or "").split("\n")[0])
