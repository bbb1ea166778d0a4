r"""Test-time adaptation of :math:`M_D` with the self-reblurring loss (Nah et al., "Clean Images are Hard to Reblur").

A well-deblurred image is hard to reblur, so at inference the frozen reblurring module :math:`M_R`
tells, without ground truth, how much blur :math:`M_D` left in its output. Starting from the trained
parameters :math:`\theta` (always on a *copy*: the trained weights are never touched), the adapted
parameters :math:`\theta_k` take ``K`` Adam steps (learning rate :math:`\eta`) on

.. math::

    \mathcal{L}(\theta_k) = \| M_R(M_D(B;\theta_k)) - \mathrm{sg}(M_D(B;\theta_k)) \|_1
    + w \, \| M_D(B;\theta_k) - \mathrm{sg}(M_D(B;\theta)) \|_1,

with :math:`B` the blurry input ``(N, 3, H, W)`` in [0, 1], :math:`\|\cdot\|_1` the mean absolute
difference, sg the stop-gradient and :math:`M_R`'s parameters frozen (the gradient flows *through*
:math:`M_R` into :math:`M_D`). The first term is :func:`reblur.losses.self_reblurring_loss`; the second
(weight :math:`w`, ``proximity_weight``, 0 by default) keeps the output near the unadapted one, against
the drift that minimising the first term alone allows (a flat image is also "hard to reblur"). The
image is then deblurred by :math:`M_D(\cdot;\theta_K)`; ``K = 0`` is no adaptation, exactly.

Because of the stop-gradient the steps do not follow the gradient of the self-reblurring loss
itself: with :math:`A = M_R - I` they move the output along :math:`-(I + J_A)^\top s` (:math:`s` the
sign of the residual), which lowers the loss to first order only where :math:`M_R` *amplifies*
what it changes (as a trained :math:`M_R` amplifies remaining blur). With an :math:`M_R` that merely
smooths, the steps sharpen the output and the logged loss can rise: "after < before" is the sign
that :math:`M_R` and the images agree, not a guarantee.

* :func:`adapt`: one adaptation on one batch, usable on its own;
* :class:`AdaptedDeblurNet`: the stand-in for ``pl_module.deblur_net`` while a batch is evaluated;
* :class:`TestTimeAdaptation`: the Lightning callback for ``reblur test`` / ``reblur predict``.

Defaults ``steps=5``, ``lr=1e-5`` are a conservative starting point (a few small steps, of the order
of a fine-tuning learning rate); they were not checked against the paper's appendix, so tune ``steps``
and ``lr`` per data set (one YAML per data set).
"""

from __future__ import annotations

import copy
import csv
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import nn
from torch.func import functional_call

log = logging.getLogger(__name__)

PARAMETER_SETS = ("all", "norm_bias")
UNITS = ("image", "batch")
STAGES = ("test", "predict")

# Layers whose affine parameters ``params="norm_bias"`` adapts (lazy variants subclass these).
NORM_LAYERS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.RMSNorm,
)

INFERENCE_MODE_HINT = (
    "test-time adaptation needs gradients inside test/predict, and Lightning ran this batch under "
    "torch.inference_mode(). Set `trainer.inference_mode: false` in the YAML (or pass "
    "`--trainer.inference_mode false`)."
)


def adapted_parameters(net: nn.Module, which: str) -> dict[str, nn.Parameter]:
    """The parameters of ``net`` that adapt, by qualified name.

    ``"all"``: every parameter; ``"norm_bias"``: the affine weights and biases of normalisation layers
    (:data:`NORM_LAYERS`) and every parameter called ``bias`` (convolutions' included), so the
    adaptation can shift and rescale features but not change the filters.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4))
    >>> sorted(adapted_parameters(net, "norm_bias"))
    ['0.bias', '1.bias', '1.weight']
    """
    if which not in PARAMETER_SETS:
        raise ValueError(f"params must be one of {PARAMETER_SETS}, got {which!r}")
    if which == "all":
        return dict(net.named_parameters())
    chosen: dict[str, nn.Parameter] = {}
    for module_name, module in net.named_modules():
        for name, parameter in module.named_parameters(recurse=False):
            if isinstance(module, NORM_LAYERS) or name == "bias":
                chosen[f"{module_name}.{name}" if module_name else name] = parameter
    return chosen


def per_image_self_reblurring(reblur_net: nn.Module, deblurred: torch.Tensor) -> torch.Tensor:
    r""":math:`\| M_R(M_D(B)_i) - M_D(B)_i \|_1` for each image ``i``: ``(N,)``, mean over C, H, W.

    With equal image sizes their mean is :func:`reblur.losses.self_reblurring_loss` of the batch.
    """
    return (reblur_net(deblurred) - deblurred.detach()).abs().flatten(1).mean(dim=1)


@dataclass
class Adaptation:
    """What :func:`adapt` returns.

    Attributes:
        net: the adapted copy of :math:`M_D` (eval/train mode as the original; parameters detached
            from any graph, ``requires_grad`` as set for the adaptation).
        output: :math:`M_D(B;\\theta_K)`, ``(N, 3, H, W)``, not clamped, no graph.
        loss_before, loss_after: per-image self-reblurring loss of :math:`M_D(B;\\theta)` and of the
            output, ``(N,)`` on the CPU.
        seconds: wall time of the whole adaptation (copy, ``K`` steps, final forward pass).
    """

    net: nn.Module
    output: torch.Tensor
    loss_before: torch.Tensor
    loss_after: torch.Tensor
    seconds: float


def adapt(
    deblur_net: nn.Module,
    reblur_net: nn.Module,
    blurry: torch.Tensor,
    steps: int = 5,
    lr: float = 1e-5,
    params: str = "all",
    proximity_weight: float = 0.0,
) -> Adaptation:
    r"""Adapt a copy of ``deblur_net`` to the batch ``blurry`` (one problem: the batch-mean objective).

    See the module docstring for the objective. ``deblur_net`` and ``reblur_net`` are left exactly as
    they were (weights, gradients and ``requires_grad`` flags); a fresh Adam starts at :math:`\theta`.

    Works whatever the caller's grad mode, Lightning's ``torch.inference_mode()`` included: the copy
    and a clone of the input are made with inference mode off, so autograd can record them. Runs
    with autocast off, in the networks' parameter dtype (fp32 under ``*-mixed`` precision): a few
    small steps in half precision would mostly round away.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    start = time.perf_counter()
    frozen = [(parameter, parameter.requires_grad) for parameter in reblur_net.parameters()]
    try:
        with (
            torch.inference_mode(False),
            torch.enable_grad(),
            torch.autocast(blurry.device.type, enabled=False),
        ):
            net = copy.deepcopy(deblur_net)
            chosen = adapted_parameters(net, params)
            if steps > 0 and not chosen:
                raise ValueError(f"params={params!r} selects no parameter of {type(deblur_net).__name__}")
            for parameter in net.parameters():
                parameter.grad = None  # a copy of a trained net carries its last training gradients
                parameter.requires_grad_(False)
            for parameter in chosen.values():
                parameter.requires_grad_(True)
            for parameter, _ in frozen:
                parameter.requires_grad_(False)
            dtype = next(net.parameters(), blurry).dtype
            images = blurry.clone().to(dtype)  # a clone made outside inference mode is a normal tensor
            optimizer = torch.optim.Adam(chosen.values(), lr=lr) if steps > 0 else None
            unadapted = loss_before = None
            for _ in range(steps):
                output = net(images)
                per_image = per_image_self_reblurring(reblur_net, output)
                objective = per_image.mean()
                if unadapted is None:
                    unadapted, loss_before = output.detach(), per_image.detach()
                if proximity_weight > 0:
                    objective = objective + proximity_weight * (output - unadapted).abs().mean()
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                optimizer.step()
            with torch.no_grad():
                output = net(images)
                loss_after = per_image_self_reblurring(reblur_net, output)
            loss_before = loss_after if loss_before is None else loss_before
            for parameter in chosen.values():
                parameter.grad = None
    except RuntimeError as error:
        if "inference tensor" in str(error).lower():
            raise RuntimeError(INFERENCE_MODE_HINT) from error
        raise
    finally:
        for parameter, requires_grad in frozen:
            parameter.requires_grad_(requires_grad)
    # .cpu() waits for the device, so the time covers the work and not just its launch.
    loss_before, loss_after = loss_before.float().cpu(), loss_after.float().cpu()
    return Adaptation(net, output, loss_before, loss_after, time.perf_counter() - start)


class AdaptedDeblurNet(nn.Module):
    r"""Stands in for ``pl_module.deblur_net`` while one batch is evaluated.

    Called with the batch's own input tensor (the same object) it returns the precomputed adapted
    output, so the LightningModule's ``test_step`` / ``predict_step`` run unchanged and no forward
    pass is repeated. Called with any other ``(N, 3, H, W)`` tensor it runs the adapted network(s):
    with ``per_image`` parameter sets, image ``i`` goes through :math:`M_D(\cdot;\theta_K^{(i)})`
    (so ``N`` must match); without, every image goes through ``net``.

    Args:
        net: an adapted copy of :math:`M_D` (per image: any copy; its adapted parameters are replaced).
        inputs, outputs: the batch input and its adapted output.
        per_image: adapted parameters of each image, by name (see :func:`adapted_parameters`), or ``None``.
    """

    def __init__(
        self,
        net: nn.Module,
        inputs: torch.Tensor,
        outputs: torch.Tensor,
        per_image: list[dict[str, torch.Tensor]] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.inputs, self.outputs, self.per_image = inputs, outputs, per_image

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images is self.inputs:
            return self.outputs
        if self.per_image is None:
            return self.net(images)
        if images.shape[0] != len(self.per_image):
            raise RuntimeError(
                f"the deblurring network was adapted to {len(self.per_image)} images of this batch; "
                f"it cannot deblur a batch of {images.shape[0]}"
            )
        return torch.cat(
            [functional_call(self.net, params, (images[i : i + 1],)) for i, params in enumerate(self.per_image)]
        )


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
        per: Literal["image", "batch"] = "image",
        stages: Sequence[str] = STAGES,
        csv_name: str | None = "tta_per_image.csv",
    ) -> None:
        if steps < 0:
            raise ValueError(f"tta steps must be >= 0, got {steps}")
        if lr <= 0:
            raise ValueError(f"tta lr must be > 0, got {lr}")
        if params not in PARAMETER_SETS:
            raise ValueError(f"tta params must be one of {PARAMETER_SETS}, got {params!r}")
        if proximity_weight < 0:
            raise ValueError(f"tta proximity_weight must be >= 0, got {proximity_weight}")
        if per not in UNITS:
            raise ValueError(f"tta per must be one of {UNITS}, got {per!r}")
        stages = (stages,) if isinstance(stages, str) else tuple(stages)
        if not set(stages) <= set(STAGES):
            raise ValueError(f"tta stages must be among {STAGES}, got {stages}")
        self.steps, self.lr, self.params = steps, lr, params
        self.proximity_weight, self.per, self.stages = proximity_weight, per, stages
        self.csv_name = csv_name
        self.records: list[dict[str, Any]] = []
        self._trained: nn.Module | None = None

    # -- checks ---------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage not in self.stages:
            return
        self.records = []
        if getattr(pl_module, "deblur_net", None) is None:
            raise ValueError(f"test-time adaptation needs a module with a `deblur_net`, got {type(pl_module).__name__}")
        if getattr(pl_module, "reblur_net", None) is None:
            raise ValueError(
                "test-time adaptation needs the reblurring module M_R: the model has `reblur_net: null`. "
                "Use a checkpoint trained with a reblurring module, or switch test-time adaptation off."
            )
        strategy = type(trainer.strategy).__name__
        if "FSDP" in strategy or "DeepSpeed" in strategy:
            raise ValueError(f"test-time adaptation does not support the sharded strategy {strategy}; use DDP")

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
        trained, reblur_net = pl_module.deblur_net, pl_module.reblur_net
        options = {"steps": self.steps, "lr": self.lr, "params": self.params, "proximity_weight": self.proximity_weight}
        if self.per == "batch":
            result = adapt(trained, reblur_net, blurry, **options)
            runs = [(range(n), result)]
            stand_in = AdaptedDeblurNet(result.net, blurry, result.output)
        else:
            runs = [([i], adapt(trained, reblur_net, blurry[i : i + 1], **options)) for i in range(n)]
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
        means = self._means(trainer, pl_module, "test")
        if means:
            # Already global means, identical on every process; sync_dist only silences Lightning's DDP warning.
            pl_module.log_dict(means, sync_dist=True)
        self._write_csv(trainer)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Not on_predict_epoch_end: a process whose share of the photos is empty (fewer photos than
        # processes, or all already written) skips the predict hooks, and the reduction would wait for it.
        if stage != "predict" or "predict" not in self.stages:
            return
        means = self._means(trainer, pl_module, "predict")
        if means:
            for logger in trainer.loggers:
                logger.log_metrics(means, step=trainer.global_step)
        self._write_csv(trainer)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(pl_module)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(pl_module)

    def _means(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> dict[str, float]:
        """Means over every process's images; every process must call it (a collective reduce)."""
        columns = ("loss_before", "loss_after", "seconds")
        sums = [sum(record[column] for record in self.records) for column in columns]
        totals = torch.tensor([*sums, len(self.records)], dtype=torch.float64, device=pl_module.device)
        totals = trainer.strategy.reduce(totals, reduce_op="sum")
        count = float(totals[-1])
        if count == 0:
            return {}
        keys = (f"{stage}/tta_loss_before", f"{stage}/tta_loss_after", f"{stage}/tta_seconds_per_image")
        return {key: float(total) / count for key, total in zip(keys, totals[:-1].tolist())}

    def _write_csv(self, trainer: pl.Trainer) -> None:
        if self.csv_name is None or not self.records or trainer.log_dir is None:
            return
        path = Path(trainer.log_dir) / self.csv_name
        if trainer.world_size > 1:
            path = path.with_name(f"{path.stem}_rank{trainer.global_rank}{path.suffix}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(self.records[0]))
            writer.writeheader()
            writer.writerows(self.records)
