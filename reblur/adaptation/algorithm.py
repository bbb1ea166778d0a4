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

With ``reblur_lr > 0`` a copy of :math:`M_R` adapts too: after each :math:`M_D` step it takes one Adam step
(learning rate ``reblur_lr``) on :math:`\mathcal{L}_\text{Blur} = \|M_R(\mathrm{sg}(M_D(B;\theta_k))) - B\|_1`,
the only one of its training losses that needs no sharp image, so that it follows the blur this very image
leaves. This is a variant we try, not a reading of the paper's Algorithm 1 (not available to us). The reported
losses use the given, unadapted :math:`M_R` throughout, so that before and after are comparable.

Because of the stop-gradient the steps do not follow the gradient of the self-reblurring loss
itself: with :math:`A = M_R - I` they move the output along :math:`-(I + J_A)^\top s` (:math:`s` the
sign of the residual), which lowers the loss to first order only where :math:`M_R` *amplifies*
what it changes (as a trained :math:`M_R` amplifies remaining blur). With an :math:`M_R` that merely
smooths, the steps sharpen the output and the logged loss can rise: "after < before" is the sign
that :math:`M_R` and the images agree, not a guarantee.

Defaults ``steps=5``, ``lr=1e-5`` are a conservative starting point (a few small steps, of the order
of a fine-tuning learning rate); they were not checked against the paper's appendix, so tune ``steps``
and ``lr`` per data set (one YAML per data set).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch import nn

from reblur.losses import self_reblurring_loss

PARAMETER_SETS = ("all", "norm_bias")

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


def detailed_window(images: torch.Tensor, side: int) -> torch.Tensor:
    """The ``side x side`` window of ``(N, C, H, W)`` images with the largest mean gradient magnitude (summed over
    the batch), searched on a grid of half-window steps; the whole images if they are not larger than ``side``.

    Blur shows, and can be judged, only where there is detail: a flat sky tells the adaptation nothing.

    >>> image = torch.zeros(1, 1, 8, 8); image[..., 4:, 4:] = torch.rand(1, 1, 4, 4)
    >>> detailed_window(image, 4).shape, bool(detailed_window(image, 4).abs().sum() > 0)
    (torch.Size([1, 1, 4, 4]), True)
    """
    height, width = images.shape[-2:]
    if height <= side and width <= side:
        return images
    side_y, side_x = min(side, height), min(side, width)
    detail = (images[..., 1:, :-1] - images[..., :-1, :-1]).abs() + (images[..., :-1, 1:] - images[..., :-1, :-1]).abs()
    detail = nn.functional.pad(detail.sum(dim=(0, 1)), (0, 1, 0, 1))
    step_y, step_x = max(1, side_y // 2), max(1, side_x // 2)
    tops = sorted({*range(0, height - side_y + 1, step_y), height - side_y})
    lefts = sorted({*range(0, width - side_x + 1, step_x), width - side_x})
    scores = [(float(detail[t : t + side_y, x : x + side_x].sum()), t, x) for t in tops for x in lefts]
    _, top, left = max(scores)
    return images[..., top : top + side_y, left : left + side_x]


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
    crop: int | None = None,
    reblur_lr: float = 0.0,
) -> Adaptation:
    r"""Adapt a copy of ``deblur_net`` to the batch ``blurry`` (one problem: the batch-mean objective).

    See the module docstring for the objective. With ``crop``, the steps see only the ``crop x crop`` window of
    the batch with the most detail (:func:`detailed_window`), which makes each step cost a window's forward and
    backward pass instead of the whole image's; the adapted copy then deblurs the whole batch. ``deblur_net`` and
    ``reblur_net`` are left exactly as they were (weights, gradients and ``requires_grad`` flags); a fresh Adam
    starts at :math:`\theta`.

    Works whatever the caller's grad mode, Lightning's ``torch.inference_mode()`` included: the copy
    and a clone of the input are made with inference mode off, so autograd can record them. Runs
    with autocast off, in the networks' parameter dtype (fp32 under ``*-mixed`` precision): a few
    small steps in half precision would mostly round away.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if crop is not None and crop < 1:
        raise ValueError(f"crop must be >= 1 or None, got {crop}")
    if reblur_lr < 0:
        raise ValueError(f"reblur_lr must be >= 0, got {reblur_lr}")
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
            window = images if crop is None else detailed_window(images, crop)
            optimizer = torch.optim.Adam(chosen.values(), lr=lr) if steps > 0 else None
            judge = reblur_net
            reblur_optimizer = None
            if reblur_lr > 0 and steps > 0:
                judge = copy.deepcopy(reblur_net)
                for parameter in judge.parameters():
                    parameter.grad = None
                reblur_optimizer = torch.optim.Adam(judge.parameters(), lr=reblur_lr)
            unadapted = loss_before = None
            for _ in range(steps):
                output = net(window)
                per_image = self_reblurring_loss(judge, output, reduction="none")
                objective = per_image.mean()
                if unadapted is None:
                    unadapted, loss_before = output.detach(), per_image.detach()
                if proximity_weight > 0:
                    objective = objective + proximity_weight * (output - unadapted).abs().mean()
                assert optimizer is not None  # made whenever steps > 0
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                optimizer.step()
                if reblur_optimizer is not None:
                    for parameter in judge.parameters():
                        parameter.requires_grad_(True)
                    blur_loss = (judge(output.detach()) - window).abs().mean()
                    reblur_optimizer.zero_grad(set_to_none=True)
                    blur_loss.backward()
                    reblur_optimizer.step()
                    for parameter in judge.parameters():
                        parameter.requires_grad_(False)
            with torch.no_grad():
                output = net(images)
                loss_after = self_reblurring_loss(reblur_net, output, reduction="none")
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
