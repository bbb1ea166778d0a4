"""Test-time adaptation as a Lightning callback for ``reblur test`` and ``reblur predict``
(the algorithm: :mod:`reblur.adaptation.algorithm`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal, cast

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import nn

from deblur_core.cli_errors import UsageError
from reblur.adaptation.adapted_net import AdaptedDeblurNet
from reblur.adaptation.algorithm import PARAMETER_SETS, Adaptation, adapt, adapted_parameters
from reblur.adaptation.records import global_means, write_records

log = logging.getLogger(__name__)

UNITS = ("image", "batch")
STAGES = ("test", "predict")


class TestTimeAdaptation(Callback):
    r"""Adapt :math:`M_D` to each test / predict image (or batch) before it is deblurred.

    For every batch of a selected stage: adapt a copy of the trained ``pl_module.deblur_net`` with
    :func:`adapt` (per image: each image alone, each from the trained weights; per batch: the batch
    together), then swap ``pl_module.deblur_net`` for an :class:`AdaptedDeblurNet` until the batch
    ends, so the module's own ``test_step`` (metrics, ``reblurred``) and ``predict_step`` see the
    adapted outputs. The trained network is put back at the end of the batch, also after an
    exception; its weights are never changed. With ``steps=0`` nothing is swapped (exactly no
    adaptation) but the losses are still recorded.

    Args:
        steps: Adam steps ``K`` per image (or batch); 0 switches adaptation off.
        lr: Adam learning rate :math:`\eta`.
        params: ``"all"`` parameters of :math:`M_D`, or ``"norm_bias"``: normalisation affine
            parameters and biases only (see :func:`adapted_parameters`).
        proximity_weight: :math:`w \ge 0`, weight of :math:`\|M_D(B;\theta_k) - \mathrm{sg}(M_D(B;\theta))\|_1`.
        crop: adapt on the ``crop x crop`` window with the most detail instead of the whole image (``None``),
            then deblur the whole image: each step then costs a window's passes (see :func:`adapt`).
        reblur_lr: > 0: a copy of :math:`M_R` also adapts, one Adam step on :math:`\mathcal{L}_\text{Blur}` per step
            (see :func:`adapt`); 0 (default): :math:`M_R` stays frozen.
        per: ``"image"`` (the paper: each image its own adaptation) or ``"batch"`` (one adaptation per
            batch, cheaper; the objective is the batch mean).
        stages: where it acts, any of ``"test"``, ``"predict"``.
        csv_name: file in ``trainer.log_dir`` for the per-image records (``None``: none); with several
            processes each writes its own, ``<stem>_rank<r>.csv``.

    **Logged** at the end of each stage, means over all images of all processes (exact: sums and
    counts are reduced, not per-process means): ``<stage>/tta_loss_before``, ``<stage>/tta_loss_after``
    (self-reblurring loss before / after adaptation) and ``<stage>/tta_seconds_per_image``. In test they
    go through ``pl_module.log`` (so ``trainer.test`` returns them); in predict, where Lightning allows
    no ``log``, straight to the trainer's loggers when the stage is torn down (every process
    reaches teardown, even one with no photo to do). Per image, :attr:`records` holds dicts ``name``,
    ``loss_before``, ``loss_after``, ``seconds`` (per batch: the batch time shared equally); they go
    to ``csv_name`` and to this module's logger at DEBUG level.

    **Inference mode**: Lightning runs test and predict under ``torch.inference_mode()`` by default.
    :func:`adapt` turns it off locally, so ``trainer.inference_mode`` may stay ``true``; should a
    tensor still come out of inference mode, the error says to set ``trainer.inference_mode: false``.

    **DDP**: each process adapts its own images, outside DDP's gradient synchronisation (the copy is
    not the DDP-wrapped model). Sharded strategies (FSDP, DeepSpeed) are refused: a copy of a shard is
    not a network. **Precision**: adaptation runs with autocast off (see :func:`adapt`).
    """

    __test__ = False  # a "Test..." class that pytest must not collect

    def __init__(
        self,
        steps: int = 5,
        lr: float = 1e-5,
        params: Literal["all", "norm_bias"] = "all",
        proximity_weight: float = 0.0,
        crop: int | None = None,
        reblur_lr: float = 0.0,
        per: Literal["image", "batch"] = "image",
        stages: Sequence[str] = STAGES,
        csv_name: str | None = "tta_per_image.csv",
    ) -> None:
        if steps < 0:
            raise UsageError(f"tta steps must be >= 0, got {steps}")
        if lr <= 0:
            raise UsageError(f"tta lr must be > 0, got {lr}")
        if params not in PARAMETER_SETS:
            raise UsageError(f"tta params must be one of {PARAMETER_SETS}, got {params!r}")
        if proximity_weight < 0:
            raise UsageError(f"tta proximity_weight must be >= 0, got {proximity_weight}")
        if crop is not None and crop < 1:
            raise UsageError(f"tta crop must be >= 1 or null, got {crop}")
        if reblur_lr < 0:
            raise UsageError(f"tta reblur_lr must be >= 0, got {reblur_lr}")
        if per not in UNITS:
            raise UsageError(f"tta per must be one of {UNITS}, got {per!r}")
        stages = (stages,) if isinstance(stages, str) else tuple(stages)
        if not set(stages) <= set(STAGES):
            raise UsageError(f"tta stages must be among {STAGES}, got {stages}")
        self.steps, self.lr, self.params = steps, lr, params
        self.proximity_weight, self.crop, self.per, self.stages = proximity_weight, crop, per, stages
        self.reblur_lr = reblur_lr
        self.csv_name = csv_name
        self.records: list[dict[str, Any]] = []
        self._trained: nn.Module | None = None

    # -- checks ---------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage not in self.stages:
            return
        self.records = []
        if getattr(pl_module, "deblur_net", None) is None:
            raise UsageError(f"test-time adaptation needs a module with a `deblur_net`, got {type(pl_module).__name__}")
        if getattr(pl_module, "reblur_net", None) is None:
            raise UsageError(
                "test-time adaptation needs the reblurring module M_R: the model has `reblur_net: null`. "
                "Use a checkpoint trained with a reblurring module, or switch test-time adaptation off."
            )
        strategy = type(trainer.strategy).__name__
        if "FSDP" in strategy or "DeepSpeed" in strategy:
            raise UsageError(f"test-time adaptation does not support the sharded strategy {strategy}; use DDP")

    # -- per batch ------------------------------------------------------------------------------
    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.records = []

    def on_test_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if "test" in self.stages:
            self._adapt_batch(pl_module, batch, batch_idx)

    def on_predict_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if "predict" in self.stages:
            self._adapt_batch(pl_module, batch, batch_idx)

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any) -> None:
        self._restore(pl_module)

    def on_predict_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        self._restore(pl_module)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore(pl_module)

    def _adapt_batch(self, pl_module: pl.LightningModule, batch: dict[str, Any], batch_idx: int) -> None:
        self._restore(pl_module)  # never stack a stand-in on a stand-in
        if "error" in batch or batch["blurry"].numel() == 0:
            return  # the marker of an unreadable photo (reblur.data.folder_images): nothing to adapt to
        blurry = batch["blurry"]
        n = blurry.shape[0]
        names = batch.get("name") or [f"batch{batch_idx}_{i}" for i in range(n)]
        # Submodules, checked in setup (nn.Module's __getattr__ types them as Tensor | Module).
        trained, reblur_net = cast(nn.Module, pl_module.deblur_net), cast(nn.Module, pl_module.reblur_net)
        adapt_to = partial(
            adapt,
            steps=self.steps,
            lr=self.lr,
            params=self.params,
            proximity_weight=self.proximity_weight,
            crop=self.crop,
            reblur_lr=self.reblur_lr,
        )
        runs: list[tuple[Sequence[int], Adaptation]]
        if self.per == "batch":
            result = adapt_to(trained, reblur_net, blurry)
            runs = [(range(n), result)]
            stand_in = AdaptedDeblurNet(result.net, blurry, result.output)
        else:
            runs = [([i], adapt_to(trained, reblur_net, blurry[i : i + 1])) for i in range(n)]
            outputs = torch.cat([result.output for _, result in runs])
            per_image = [
                {name: p.detach() for name, p in adapted_parameters(result.net, self.params).items()}
                for _, result in runs
            ]
            stand_in = AdaptedDeblurNet(runs[-1][1].net, blurry, outputs, per_image)
        for indices, result in runs:
            for k, i in enumerate(indices):
                record = {
                    "name": str(names[i]),
                    "loss_before": float(result.loss_before[k]),
                    "loss_after": float(result.loss_after[k]),
                    "seconds": result.seconds / len(indices),
                }
                self.records.append(record)
                log.debug("test-time adaptation %s", record)
        if self.steps > 0:
            self._trained = trained
            pl_module.deblur_net = stand_in

    def _restore(self, pl_module: pl.LightningModule) -> None:
        if self._trained is not None:
            pl_module.deblur_net = self._trained
            self._trained = None

    # -- per stage ------------------------------------------------------------------------------
    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if "test" not in self.stages:
            return
        means = global_means(self.records, trainer.strategy, pl_module.device, "test")
        if means:
            # Already global means, identical on every process; sync_dist only silences Lightning's DDP warning.
            pl_module.log_dict(means, sync_dist=True)
        write_records(self.records, trainer, self.csv_name)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Not on_predict_epoch_end: a process whose share of the photos is empty (fewer photos than
        # processes, or all already written) skips the predict hooks, and the reduction would wait for it.
        if stage != "predict" or "predict" not in self.stages:
            return
        means = global_means(self.records, trainer.strategy, pl_module.device, "predict")
        if means:
            for logger in trainer.loggers:
                logger.log_metrics(means, step=trainer.global_step)
        write_records(self.records, trainer, self.csv_name)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(pl_module)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(pl_module)
