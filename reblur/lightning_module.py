r"""Training a deblurring network :math:`M_D` with the reblurring loss (Nah et al., ICLR 2022).

One LightningModule with manual optimisation holds both networks. Per training batch (an
*iteration*):

1. **M_R step** (``reblur_updates.steps`` times, skipped without a reblurring module): :math:`M_R` is
   updated with :math:`\mathcal{L}_\text{Blur} + \mathcal{L}_\text{Sharp}` on detached
   :math:`M_D(B)` and pseudo-sharp :math:`P = M_D(S)` (or :math:`P = S`), see :mod:`reblur.losses`.
2. **M_D step** (``deblur_updates.steps`` times): :math:`M_D` is updated with
   :math:`\| M_D(B) - S \|_1 + \lambda \| M_R(M_D(B)) - M_R(S) \|_1` (+ optional VGG term) while
   :math:`M_R`'s parameters are frozen.

The first M_D step reuses the :math:`M_D(B)` computed for the M_R step (its graph is kept): the
M_R update does not touch :math:`M_D`, so this is the same value at the cost of one forward pass
less per iteration.

**How steps are counted.** Lightning's ``trainer.global_step`` counts *optimizer steps*: with a
reblurring module it advances by ``reblur_updates.steps + deblur_updates.steps`` per iteration (2 by default).
With ``max_steps_counts="iterations"`` (default) ``trainer.max_steps`` means *iterations*
(batches): the module multiplies the trainer's limit by the optimizer steps per iteration when
fitting starts. The learning-rate schedulers are stepped once per iteration, so their periods
(``T_max``, ``milestones``, ...) are in iterations too. The loggers' x axis counts iterations
(Lightning logs at the number of batches that stepped, 0-based); checkpoint names (``step=``) and
``ModelCheckpoint(every_n_train_steps=...)`` use ``global_step``, i.e. optimizer steps.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from functools import partial
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch import nn

from deblur_core.cli_errors import UsageError
from reblur.losses import VGGPerceptualLoss, l1, reblurring_loss, reblurring_module_losses
from reblur.metrics import NIQE, ImageQualityMetrics, psnr
from reblur.options import DeblurLoss, Evaluation, NetworkUpdates
from reblur.reblur_response import reblur_response

STEP_COUNTS = ("iterations", "optimizer_steps")
# The logger of Lightning's rank_zero_info, which announces why fitting stopped.
_LIGHTNING_INFO = logging.getLogger("pytorch_lightning.utilities.rank_zero")


class _IterationsStopMessage(logging.Filter):
    """Rewrites the `` `max_steps=40` `` of Lightning's stop message (optimizer steps, after the scaling in ``setup``)
    into the iterations the user asked for.

    Only that token is matched, not the sentence around it, so a rewording of the rest by Lightning keeps the
    rewrite; tests/reblur/test_cli.py pins the whole line, so a change of the token itself fails there.
    """

    def __init__(self, steps_per_iteration: int) -> None:
        super().__init__()
        self.steps_per_iteration = steps_per_iteration
        self.iterations = 0

    def filter(self, record: logging.LogRecord) -> bool:
        scaled = self.iterations * self.steps_per_iteration
        token = f"`max_steps={scaled}`"
        message = record.getMessage()
        if token in message:
            record.msg = message.replace(
                token,
                f"`max_steps={self.iterations}` iterations ({scaled} optimizer steps, "
                f"{self.steps_per_iteration} per iteration)",
            )
            record.args = ()
        return True


class ReblurTraining(pl.LightningModule):
    """Deblurring network trained with L1 (+ reblurring loss, + VGG loss), as a LightningModule.

    Args:
        deblur_net: :math:`M_D`, ``(N, 3, H, W)`` [0, 1] -> ``(N, 3, H, W)`` (see :mod:`reblur.networks`).
        reblur_net: :math:`M_R` (e.g. ``ReblurringModule(n_blocks=1)``); ``None`` trains L1 only.
        loss: the M_D objective and M_R's sharp term (:class:`~reblur.options.DeblurLoss`).
        deblur_updates, reblur_updates: how M_D and M_R are updated: optimizer, scheduler (stepped once per
            iteration), optimizer steps per iteration, gradient clipping (:class:`~reblur.options.NetworkUpdates`).
        max_steps_counts: ``"iterations"`` or ``"optimizer_steps"``: what ``trainer.max_steps`` means.
        evaluation: the metrics of validation and test and their conventions
            (:class:`~reblur.options.Evaluation`).
    """

    def __init__(
        self,
        deblur_net: nn.Module,
        reblur_net: nn.Module | None = None,
        loss: DeblurLoss = DeblurLoss(),
        deblur_updates: NetworkUpdates = NetworkUpdates(),
        reblur_updates: NetworkUpdates = NetworkUpdates(),
        max_steps_counts: Literal["iterations", "optimizer_steps"] = "iterations",
        evaluation: Evaluation = Evaluation(),
    ) -> None:
        super().__init__()
        if max_steps_counts not in STEP_COUNTS:
            raise UsageError(f"model.max_steps_counts must be one of {STEP_COUNTS}, got {max_steps_counts!r}")
        # Plain values only (the networks and the optimizer factories are not): loggers show them, and
        # checkpoints stay loadable with weights_only=True.
        self.save_hyperparameters(
            {
                "loss": asdict(loss),
                "deblur_updates": {"steps": deblur_updates.steps, "grad_clip": deblur_updates.grad_clip},
                "reblur_updates": {"steps": reblur_updates.steps, "grad_clip": reblur_updates.grad_clip},
                "max_steps_counts": max_steps_counts,
                "evaluation": asdict(evaluation),
            }
        )
        self.automatic_optimization = False
        self.deblur_net = deblur_net
        self.reblur_net = reblur_net
        self.loss = loss
        self.deblur_updates, self.reblur_updates = deblur_updates, reblur_updates
        self.max_steps_counts = max_steps_counts
        self.evaluation = evaluation
        # Held in a list so the frozen VGG stays out of the state dict (checkpoints) and out of DDP.
        self._perceptual = (
            [VGGPerceptualLoss(loss.perceptual_arch, loss.perceptual_layer)] if loss.perceptual_weight > 0 else []
        )
        metrics = partial(
            ImageQualityMetrics,
            crop_border=evaluation.crop_border,
            color=evaluation.color,
            niqe_color=evaluation.niqe_color,
        )
        self.val_metrics = metrics(list(evaluation.metrics))
        self.test_metrics = metrics(list(evaluation.metrics))
        # The targets' NIQE does not change between epochs: measured once per stage, then the value is reused.
        niqe_wanted = "niqe" in evaluation.metrics
        self.target_niqe = NIQE(evaluation.crop_border, evaluation.niqe_color) if niqe_wanted else None
        self._target_niqe_values: dict[str, torch.Tensor] = {}
        self._scaled_trainers: set[int] = set()
        self._stop_message = _IterationsStopMessage(self.optimizer_steps_per_iteration)

    # -- set-up -------------------------------------------------------------------------------
    @property
    def optimizer_steps_per_iteration(self) -> int:
        return self.deblur_updates.steps + (self.reblur_updates.steps if self.reblur_net is not None else 0)

    @property
    def iteration(self) -> int:
        """Training iterations (batches) done: ``global_step // optimizer_steps_per_iteration``."""
        return self.trainer.global_step // self.optimizer_steps_per_iteration

    def setup(self, stage: str) -> None:
        trainer = self.trainer
        if (
            stage == "fit"
            and self.max_steps_counts == "iterations"
            and trainer.max_steps > 0
            and id(trainer) not in self._scaled_trainers
        ):
            # Lightning stops when global_step (optimizer steps) reaches max_steps.
            iterations = trainer.max_steps
            trainer.fit_loop.epoch_loop.max_steps = iterations * self.optimizer_steps_per_iteration
            self._scaled_trainers.add(id(trainer))
            self._stop_message.iterations = iterations
            _LIGHTNING_INFO.addFilter(self._stop_message)

    def teardown(self, stage: str) -> None:
        if stage == "fit":
            _LIGHTNING_INFO.removeFilter(self._stop_message)

    # Lightning accepts a list that mixes configs with and without "lr_scheduler"; its type allows no mix.
    def configure_optimizers(self) -> list[dict[str, Any]]:  # type: ignore[override]
        configs = [self._optimizer_config(self.deblur_net, self.deblur_updates)]
        if self.reblur_net is not None:
            configs.append(self._optimizer_config(self.reblur_net, self.reblur_updates))
        return configs

    @staticmethod
    def _optimizer_config(net: nn.Module, updates: NetworkUpdates) -> dict[str, Any]:
        optimizer = updates.optimizer(net.parameters())
        config: dict[str, Any] = {"optimizer": optimizer}
        if updates.scheduler is not None:
            config["lr_scheduler"] = {"scheduler": updates.scheduler(optimizer), "interval": "step"}
        return config

    # -- training -----------------------------------------------------------------------------
    def forward(self, blurry: torch.Tensor) -> torch.Tensor:
        """Deblur ``(N, 3, H, W)`` images in [0, 1] (output not clamped)."""
        return self.deblur_net(blurry)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        blurry, sharp = batch["blurry"], batch["sharp"]
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        logs: dict[str, torch.Tensor] = {}

        deblurred = self.deblur_net(blurry)
        if self.reblur_net is not None:
            reblur_optimizer = optimizers[1]
            with torch.no_grad():
                pseudo_sharp = self.deblur_net(sharp) if self.loss.pseudo_sharp else sharp
            for _ in range(self.reblur_updates.steps):
                losses = reblurring_module_losses(self.reblur_net, deblurred, blurry, pseudo_sharp)
                reblur_optimizer.zero_grad(set_to_none=True)
                self.manual_backward(losses["total"])
                reblur_optimizer.step()
            logs.update({f"train/reblur_{name}": value.detach() for name, value in losses.items()})

        deblur_optimizer = optimizers[0]
        # Freezes M_R's parameters (requires_grad=False) so the M_D step cannot change or accumulate into them.
        self.toggle_optimizer(deblur_optimizer)
        for step in range(self.deblur_updates.steps):
            if step > 0:
                deblurred = self.deblur_net(blurry)
            terms = self.deblur_losses(deblurred, sharp)
            deblur_optimizer.zero_grad(set_to_none=True)
            self.manual_backward(terms["total"])
            deblur_optimizer.step()
        self.untoggle_optimizer(deblur_optimizer)
        logs.update({f"train/deblur_{name}": value.detach() for name, value in terms.items()})

        for scheduler in self._schedulers():
            scheduler.step()
        logs["train/lr_deblur"] = torch.tensor(deblur_optimizer.param_groups[0]["lr"])
        logs["iteration"] = torch.tensor(float(self.iteration))
        self.log_dict(logs, prog_bar=False, batch_size=blurry.shape[0])
        self.log("train/l1", logs["train/deblur_l1"], prog_bar=True, batch_size=blurry.shape[0])

    def deblur_losses(self, deblurred: torch.Tensor, sharp: torch.Tensor) -> dict[str, torch.Tensor]:
        """The M_D objective and its terms: ``l1``, ``reblur`` / ``perceptual`` when on, ``total``."""
        terms = {"l1": l1(deblurred, sharp)}
        total = terms["l1"]
        started = self.loss.reblur_start == 0 or self.iteration >= self.loss.reblur_start
        if self.reblur_net is not None and self.loss.reblur_weight > 0 and started:
            terms["reblur"] = reblurring_loss(self.reblur_net, deblurred, sharp)
            total = total + self.loss.reblur_weight * terms["reblur"]
        if self._perceptual:
            perceptual = self._perceptual[0].to(deblurred.device)
            terms["perceptual"] = perceptual(deblurred, sharp)
            total = total + self.loss.perceptual_weight * terms["perceptual"]
        terms["total"] = total
        return terms

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Called by the precision plugin after AMP unscaling, so the norm is the true gradient norm.
        updates = self.deblur_updates if optimizer is self.trainer.optimizers[0] else self.reblur_updates
        clip = updates.grad_clip
        if clip is not None:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")

    def _schedulers(self) -> list[Any]:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return schedulers if isinstance(schedulers, list) else [schedulers]

    # -- evaluation ---------------------------------------------------------------------------
    def _evaluate(self, batch: dict[str, Any], metrics: ImageQualityMetrics, prefix: str) -> dict[str, Any]:
        blurry, sharp = batch["blurry"], batch["sharp"]
        deblurred = self.deblur_net(blurry)
        metrics.update(deblurred, sharp)
        if self.target_niqe is not None and prefix not in self._target_niqe_values and not self.trainer.sanity_checking:
            self.target_niqe.update(sharp.float())
        n = blurry.shape[0]
        # The input's PSNR, in the same convention as the outputs', is the reference the gain is read against.
        convention = self.evaluation
        input_psnr = psnr(blurry.float(), sharp.float(), crop_border=convention.crop_border, color=convention.color)
        input_psnr = input_psnr.mean()
        self.log(f"{prefix}/input_psnr", input_psnr, batch_size=n, sync_dist=True)
        self.log(f"{prefix}/l1", l1(deblurred, sharp), batch_size=n, sync_dist=True)
        outputs = {"blurry": blurry, "deblurred": deblurred, "sharp": sharp, "name": batch.get("name")}
        if self.reblur_net is not None:
            outputs["reblurred"] = self.reblur_net(deblurred)
            self.log(f"{prefix}/reblur_blur", l1(outputs["reblurred"], blurry), batch_size=n, sync_dist=True)
            self._log_reblur_response(prefix, blurry, deblurred, sharp)
        return outputs

    def _log_reblur_response(
        self, prefix: str, blurry: torch.Tensor, deblurred: torch.Tensor, sharp: torch.Tensor
    ) -> None:
        """The premise of the method, watched during training (:mod:`reblur.reblur_response`): how much M_R moves
        the blurry input, the deblurred output and the sharp target, and how far toward the input."""
        assert self.reblur_net is not None
        n = blurry.shape[0]
        for kind, image in (("blurry", blurry), ("deblurred", deblurred), ("sharp", sharp)):
            response = reblur_response(self.reblur_net, image.float(), blurry.float())
            names = ("move",) if kind == "blurry" else ("move", "toward_blurry")
            for name in names:
                value = response[name].mean()
                self.log(f"{prefix}/reblur_{name}_{kind}", value, batch_size=n, sync_dist=True)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._evaluate(batch, self.test_metrics, "test")

    def on_validation_epoch_end(self) -> None:
        self._log_metrics(self.val_metrics, "val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics(self.test_metrics, "test")

    def _log_metrics(self, metrics: ImageQualityMetrics, prefix: str) -> None:
        if metrics.update_count == 0:
            return
        values = metrics.compute()
        self.log_dict({f"{prefix}/{name}": value.float() for name, value in values.items()}, prog_bar=True)
        metrics.reset()
        if self.target_niqe is not None and not self.trainer.sanity_checking:
            if prefix not in self._target_niqe_values:
                self._target_niqe_values[prefix] = self.target_niqe.compute().float()
                self.target_niqe.reset()
            # Already reduced over processes by the metric; the same value on every rank.
            self.log(f"{prefix}/niqe_target", self._target_niqe_values[prefix])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # LightningCLI restores a checkpoint's hyperparameters over the command line's (`reblur test --ckpt_path`):
        # how to score is the user's choice for each run, not part of the trained model, so it is not stored.
        checkpoint.get("hyper_parameters", {}).pop("evaluation", None)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """``{"deblurred": (N, 3, H, W) in [0, 1], "name": list[str] | None}``; for the marker batch of an
        unreadable photo (see :mod:`reblur.data.folder_images`) only its ``"name"`` and ``"error"``."""
        if "error" in batch:
            return {"name": batch["name"], "error": batch["error"]}
        # Through self.deblur_net on each call: test-time adaptation swaps the network per batch.
        return {"deblurred": self.deblur_net(batch["blurry"]).clamp(0, 1), "name": batch.get("name")}
