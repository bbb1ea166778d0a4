"""SelfDeblur (Ren et al., CVPR 2020, "Neural Blind Deconvolution Using Deep Priors") as a LightningModule.

For a blurry image :math:`y` (``H x W``; the Y channel of colour images) and a kernel size
:math:`k`, SelfDeblur solves

.. math::
    \\min_{\\theta_x, \\theta_k} \\; \\ell\\big(G_k(z_k) \\star G_x(z_x), \\; y\\big)
    \\; [+ \\lambda \\, \\mathrm{TV}(G_x(z_x))]

over the weights of the image generator G_x (a deep-image-prior skip autoencoder; its output is
``(H + k - 1) x (W + k - 1)``) and the kernel generator G_k (fully connected, softmax output),
where :math:`\\star` is 'valid' correlation, :math:`\\ell` is MSE for the first ``mse_steps`` steps
and ``1 - SSIM`` after, and the TV term (paper Eq. 6) is optional. The input :math:`z_x` is
perturbed by :math:`\\mathcal N(0, 0.001^2)` noise at each step.

Lightning shape: the DataModule yields one batch per optimisation step (see
:class:`selfdeblur.data.GroupBatch`); when a batch belongs to a new group of images, the module
builds fresh generators for each image of the group and resets its optimisers, so one ``fit``
solves a whole folder, group after group. Images in a group are independent: the summed loss
gives each its own gradients and Adam's statistics are per parameter, so solving them together
is equivalent to solving them one by one. With ``stack_problems`` the group's images of equal size
run as one batched call of grouped convolutions (:mod:`selfdeblur.problem_batch`), which is what
fills a GPU with small images. Finished images are collected in
:attr:`SelfDeblur.finished` (the :class:`selfdeblur.callbacks.ResultWriter` writes and drains them).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Literal

import pytorch_lightning as pl
import torch
from torch import nn

from selfdeblur.blur import to_convolution_kernel
from selfdeblur.color import merge_luminance
from selfdeblur.cuda_precision import CHOICES as FLOAT32_PRECISIONS
from selfdeblur.cuda_precision import cuda_float32_precision
from selfdeblur.data import GroupBatch
from selfdeblur.image_generator import SkipGenerator
from selfdeblur.kernel_generator import build_kernel_generator
from selfdeblur.losses import data_fidelity, learning_rate, total_variation
from selfdeblur.noise_level import estimate_noise_sigma
from selfdeblur.problem import DeblurProblem, Estimate, make_problem
from selfdeblur.problem_batch import ProblemBatch
from selfdeblur.result import DeblurResult
from selfdeblur.strategy import NAME as STRATEGY_NAME
from selfdeblur.strategy import IndependentRanks


class SelfDeblur(pl.LightningModule):
    """Blind deconvolution of single images with deep priors.

    Args:
        steps: optimisation steps per image (5000 in the paper for Levin, 2500 for real photos).
        lr_image: Adam learning rate of G_x.
        lr_kernel: Adam learning rate of G_k.
        milestones: 0-based steps at which both learning rates are multiplied by ``gamma``.
        gamma: learning-rate decay factor.
        mse_steps: the loss is MSE for steps ``< mse_steps``, then ``1 - SSIM``.
        optimization: ``"joint"`` (the paper's default: one Adam step on both generators per step)
            or ``"alternating"`` (SelfDeblur-A: per step, one Adam step on G_k with G_x fixed, then
            one on G_x with the updated G_k fixed).
        input_noise_std: standard deviation of the per-step perturbation of ``z_x``.
        input_channels: channels of ``z_x``.
        image_channels: G_x channels per scale (encoder and decoder).
        skip_channels: G_x skip-branch channels per scale.
        non_local_scales: number of deepest G_x scales with a non-local block.
        kernel_generator: ``"fc"`` (fully connected) or ``"dip"`` (convolutional, Double-DIP style).
        kernel_hidden: hidden widths of the ``"fc"`` generator: ``[1000]`` (paper), ``[]`` (no
            hidden layer), ``[1000, 1000]`` (an extra one).
        tv_weight: weight of the TV term, or ``"auto"``: ``tv_gain * sigma**2`` with ``sigma`` the
            noise level (``noise_sigma``, or estimated from each blurry image). The quadratic law is
            the MAP weighting of a mean-squared data term against a Laplacian gradient prior;
            ``tv_gain = 50`` corresponds to a prior mean gradient magnitude of 0.04.
        tv_norm: ``"l1"`` (total variation) or ``"l2"`` (squared differences, the authors' ``TVLoss``).
        tv_gain: see ``tv_weight``.
        noise_sigma: noise standard deviation of the blurry images (in [0, 1] units), if known.
        seed: base seed; each image's initialisation depends only on it and the image's name.
        stack_problems: run the generators of a group's equally sized images as one batched call
            (``vmap`` over stacked weights) instead of one after another. Same results up to
            floating-point summation order; it pays where one image leaves the device idle (GPUs).
        memory_format: layout of G_x's feature maps when not stacking: ``"channels_last"`` (NHWC),
            ``"contiguous"`` (NCHW), or ``"auto"``: channels_last on CPU, where oneDNN's NHWC
            convolutions make a Levin step 15-25% faster (docs/performance.md), contiguous elsewhere.
        blur_method: how the kernel blurs the latent image: ``"direct"`` (a convolution layer),
            ``"fft"`` (products of FFTs), or ``"auto"``: FFT for kernels of 9x9 and more, where it is 10-200x
            faster than the direct correlation and closer to the exact result (docs/performance.md).
        float32_precision: how a GPU computes float32 convolutions and matrix products during the fit:
            ``"ieee"`` (float32 arithmetic: the same results as on the CPU up to rounding) or ``"tf32"``
            (tensor cores, faster on Ampere and newer GPUs). PyTorch's own default would use TF32 for
            convolutions only; see :mod:`selfdeblur.cuda_precision`. No effect on the CPU.

    Example (three lines; :func:`selfdeblur.deblur` wraps the same):
        >>> from selfdeblur import SelfDeblur, SelfDeblurDataModule, SyntheticBlur
        >>> model = SelfDeblur(steps=2, image_channels=[4, 4], skip_channels=[2, 2], non_local_scales=0)
        >>> pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        ...            enable_checkpointing=False).fit(model, SelfDeblurDataModule(synthetic=SyntheticBlur(size=24,
        ...            kernel_size=5)))
        >>> result = model.finished[0]; result.image.shape, result.kernel.shape
        (torch.Size([1, 24, 24]), torch.Size([5, 5]))
    """

    def __init__(
        self,
        steps: int = 5000,
        lr_image: float = 1e-2,
        lr_kernel: float = 1e-4,
        milestones: Sequence[int] = (2000, 3000, 4000),
        gamma: float = 0.5,
        mse_steps: int = 1000,
        optimization: Literal["joint", "alternating"] = "joint",
        input_noise_std: float = 0.001,
        input_channels: int = 8,
        image_channels: Sequence[int] = (128, 128, 128, 128, 128),
        skip_channels: Sequence[int] = (16, 16, 16, 16, 16),
        non_local_scales: int = 3,
        kernel_generator: Literal["fc", "dip"] = "fc",
        kernel_hidden: Sequence[int] = (1000,),
        tv_weight: float | Literal["auto"] = 0.0,
        tv_norm: Literal["l1", "l2"] = "l1",
        tv_gain: float = 50.0,
        noise_sigma: float | None = None,
        seed: int = 0,
        stack_problems: bool = False,
        memory_format: Literal["auto", "contiguous", "channels_last"] = "auto",
        blur_method: Literal["auto", "direct", "fft"] = "auto",
        float32_precision: Literal["ieee", "tf32"] = "ieee",
    ) -> None:
        super().__init__()
        _check("model.steps", steps, isinstance(steps, int) and steps > 0, "a positive integer")
        _check("model.lr_image", lr_image, lr_image > 0, "positive")
        _check("model.lr_kernel", lr_kernel, lr_kernel > 0, "positive")
        _check("model.gamma", gamma, gamma > 0, "positive")
        _check("model.mse_steps", mse_steps, mse_steps >= 0, ">= 0")
        _check("model.input_noise_std", input_noise_std, input_noise_std >= 0, ">= 0")
        _check("model.optimization", optimization, optimization in ("joint", "alternating"), "'joint' or 'alternating'")
        _check("model.kernel_generator", kernel_generator, kernel_generator in ("fc", "dip"), "'fc' or 'dip'")
        _check("model.tv_norm", tv_norm, tv_norm in ("l1", "l2"), "'l1' or 'l2'")
        _check("model.tv_weight", tv_weight, tv_weight == "auto" or float(tv_weight) >= 0, ">= 0 or 'auto'")
        _check("model.noise_sigma", noise_sigma, noise_sigma is None or noise_sigma >= 0, ">= 0")
        _check("model.blur_method", blur_method, blur_method in ("auto", "direct", "fft"), "'auto', 'direct' or 'fft'")
        _check(
            "model.float32_precision",
            float32_precision,
            float32_precision in FLOAT32_PRECISIONS,
            " or ".join(repr(c) for c in FLOAT32_PRECISIONS),
        )
        _check(
            "model.memory_format",
            memory_format,
            memory_format in ("auto", "contiguous", "channels_last"),
            "'auto', 'contiguous' or 'channels_last'",
        )
        scales = len(image_channels)
        _check("model.non_local_scales", non_local_scales, 0 <= non_local_scales <= scales, f"in [0, {scales}]")
        if len(skip_channels) != len(image_channels):
            raise ValueError(
                f"model.skip_channels {list(skip_channels)} must have one entry per scale of "
                f"model.image_channels {list(image_channels)}"
            )
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.steps = steps
        self.milestones = sorted(milestones)
        self.problems = ProblemBatch([])
        self.finished: list[DeblurResult] = []
        self._group: int | None = None
        self._noise: list[torch.Generator] = []
        self._tv_weights: list[float] = []
        self._started = 0.0
        self._latest: list[tuple[DeblurProblem, Estimate]] = []
        self._backend_settings = ExitStack()

    # -- building ----------------------------------------------------------------------------
    def make_image_generator(self) -> nn.Module:
        hp = self.hparams
        return SkipGenerator(
            in_channels=hp.input_channels,
            out_channels=1,
            down_channels=list(hp.image_channels),
            skip_channels=list(hp.skip_channels),
            non_local_scales=hp.non_local_scales,
        )

    def make_kernel_generator(self, kernel_size: int) -> nn.Module:
        return build_kernel_generator(self.hparams.kernel_generator, kernel_size, list(self.hparams.kernel_hidden))

    def image_seed(self, name: str) -> int:
        """Seed of an image's initialisation: a function of ``seed`` and the name only."""
        return (self.hparams.seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63)

    def check_size(self, source: str, height: int, width: int, kernel_size: int) -> None:
        """G_x halves its input once per scale and its batch normalisation needs at least 2x2 pixels at
        the deepest scale, so ``H + k - 1`` and ``W + k - 1`` must be at least ``2**scales + 1``."""
        scales = len(self.hparams.image_channels)
        smallest = 2**scales + 1
        if min(height, width) + kernel_size - 1 < smallest:
            raise ValueError(
                f"'{source}' ({height}x{width}, kernel {kernel_size}) is too small for G_x's {scales} scales: "
                f"image size + kernel size - 1 must be at least {smallest} (or use fewer model.image_channels)"
            )

    def build_problem(self, name: str, blurry: torch.Tensor, kernel_size: int) -> DeblurProblem:
        self.check_size(name, *blurry.shape[-2:], kernel_size)
        return make_problem(
            name,
            blurry.detach().float().cpu(),
            kernel_size,
            self.make_image_generator,
            self.make_kernel_generator,
            self.hparams.input_channels,
            self.image_seed(name),
        )

    def feature_memory_format(self) -> torch.memory_format:
        """Layout of G_x's feature maps (the plain per-problem path; stacked problems are NCHW)."""
        choice = self.hparams.memory_format
        if self.hparams.stack_problems:
            choice = "contiguous"
        elif choice == "auto":
            choice = "channels_last" if self.device.type == "cpu" else "contiguous"
        return torch.channels_last if choice == "channels_last" else torch.contiguous_format

    def tv_weight_for(self, problem: DeblurProblem) -> float:
        weight = self.hparams.tv_weight
        if weight != "auto":
            return float(weight)
        sigma = self.hparams.noise_sigma
        if sigma is None:
            sigma = float(estimate_noise_sigma(problem.target[0, 0].float()))
        return self.hparams.tv_gain * sigma**2

    # -- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self.trainer.world_size > 1 and not isinstance(self.trainer.strategy, IndependentRanks):
            raise ValueError(
                f"SelfDeblur on {self.trainer.world_size} processes needs trainer.strategy={STRATEGY_NAME!r} "
                f"(each process solves its own images; got {type(self.trainer.strategy).__name__}, which would "
                "average gradients between processes). `selfdeblur fit` picks it by itself."
            )
        # Check every image against the generator before any work starts (the DataModule's setup,
        # which runs first, has decoded each image once and recorded its size).
        for image in getattr(self.trainer.datamodule, "images", []):
            self.check_size(image.source, *image.size, image.kernel_size)
        if self.trainer.strategy.root_device.type == "cuda":
            self._backend_settings.enter_context(cuda_float32_precision(self.hparams.float32_precision))

    def teardown(self, stage: str) -> None:
        self._backend_settings.close()  # the process's CUDA settings as they were before the fit

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        # Parameters change with every group of images; start_group() fills these optimisers.
        count = 1 if self.hparams.optimization == "joint" else 2
        return [torch.optim.Adam([{"params": []}]) for _ in range(count)]

    def on_train_batch_start(self, batch: GroupBatch, batch_idx: int) -> None:
        if batch.group != self._group and not batch.idle:
            self.start_group(batch)

    def on_train_epoch_end(self) -> None:
        self.trainer.should_stop = True  # one pass over the images is the whole job

    # -- the optimisation ----------------------------------------------------------------------
    def _optimizers(self) -> list:
        opts = self.optimizers()
        return list(opts) if isinstance(opts, (list, tuple)) else [opts]

    def start_group(self, batch: GroupBatch) -> None:
        """Fresh generators for the group's images; optimisers reset to them."""
        if batch.step != 0 or len(batch.blurry) != len(batch.names):
            raise RuntimeError(f"group {batch.group} must start at step 0 with its images, got step {batch.step}")
        problems = [self.build_problem(n, b, k) for n, b, k in zip(batch.names, batch.blurry, batch.kernel_sizes)]
        problems = nn.ModuleList(problems)
        if self._trainer is not None:
            # Built after Lightning converted the module: "64-true" / "16-true" / "bf16-true" must reach them too
            # (a no-op for "32-true" and the mixed precisions, which autocast instead).
            problems = self.trainer.precision_plugin.convert_module(problems)
        self.problems = ProblemBatch(
            list(problems.to(self.device)),
            self.hparams.stack_problems,
            self.feature_memory_format(),
            self.hparams.blur_method,
        )
        self._noise = [torch.Generator(device=self.device).manual_seed(self.image_seed(n) + 1) for n in batch.names]
        self._tv_weights = [self.tv_weight_for(p) for p in self.problems]
        lr_x, lr_k = self.hparams.lr_image, self.hparams.lr_kernel
        image_params = _group(self.problems.image_parameters(), lr_x)
        kernel_params = _group(self.problems.kernel_parameters(), lr_k)
        opts = self._optimizers()
        groups_per_optimizer = [[image_params, kernel_params]] if len(opts) == 1 else [[image_params], [kernel_params]]
        for opt, groups in zip(opts, groups_per_optimizer):
            _reset(opt)
            for group in groups:
                _inner(opt).add_param_group(group)
        self._group = batch.group
        self._latest = []
        self._started = time.perf_counter()

    def _perturbations(self) -> list[torch.Tensor | None]:
        std = self.hparams.input_noise_std
        if std == 0:
            return [None] * len(self.problems)
        # Drawn in fp32 whatever the precision, so that "64-true" runs see the same noise as fp32 runs.
        return [
            std
            * torch.randn(p.image_input.shape, generator=g, device=p.image_input.device, dtype=torch.float32).to(
                p.image_input.dtype
            )
            for p, g in zip(self.problems, self._noise)
        ]

    def _loss(self, problem: DeblurProblem, estimate: Estimate, step: int, tv_weight: float) -> torch.Tensor:
        # Losses in at least fp32 even under (b)f16: SSIM's constants (1e-4, 9e-4) underflow bf16. In fp64 under
        # "64-true".
        dtype = torch.promote_types(problem.target.dtype, torch.float32)
        with torch.autocast(self.device.type, enabled=False):
            target = problem.target.to(dtype)
            loss = data_fidelity(estimate.reblurred.to(dtype), target, step, self.hparams.mse_steps)
            if tv_weight > 0:
                loss = loss + tv_weight * total_variation(estimate.latent.to(dtype), self.hparams.tv_norm)
        return loss

    def _set_learning_rates(self, step: int) -> None:
        for opt in self._optimizers():
            for group in opt.param_groups:
                group["lr"] = learning_rate(group["base_lr"], step, self.milestones, self.hparams.gamma)

    def _check_finite(self, losses: list[torch.Tensor], step: int) -> list[float]:
        values = torch.stack([loss.detach() for loss in losses]).float().cpu().tolist()
        for problem, value in zip(self.problems, values):
            if value != value or value in (float("inf"), float("-inf")):
                raise FloatingPointError(
                    f"SelfDeblur: the loss of image '{problem.name}' became {value} at step {step}; "
                    "nothing was written for it. Try a lower model.lr_image / model.lr_kernel, or check the input."
                )
        return values

    def training_step(self, batch: GroupBatch, batch_idx: int) -> None:
        if batch.idle:
            return  # this rank's share is done; the other ranks are still solving theirs
        step = batch.step
        self._set_learning_rates(step)
        estimates = self.problems(self._perturbations())
        opts = self._optimizers()
        if len(opts) == 2:
            # SelfDeblur-A: first G_k with G_x fixed ...
            opt_image, opt_kernel = opts
            fixed = [e.latent.detach() for e in estimates]
            kernel_losses = [
                self._loss(p, Estimate(x, e.filter, self.problems.blur(x, e.filter)), step, 0.0)
                for p, e, x in zip(self.problems, estimates, fixed)
            ]
            self._check_finite(kernel_losses, step)
            opt_kernel.zero_grad(set_to_none=True)
            self.manual_backward(torch.stack(kernel_losses).sum())
            opt_kernel.step()
            # ... then G_x with the updated G_k fixed.
            with torch.no_grad():
                filters = self.problems.filters()
            estimates = [Estimate(e.latent, f, self.problems.blur(e.latent, f)) for e, f in zip(estimates, filters)]
            opt = opt_image
        else:
            opt = opts[0]
        losses = [self._loss(p, e, step, w) for p, e, w in zip(self.problems, estimates, self._tv_weights)]
        values = self._check_finite(losses, step)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(torch.stack(losses).sum())
        opt.step()

        self._latest = [(p, Estimate(*(t.detach() for t in e))) for p, e in zip(self.problems, estimates)]
        for problem, value in zip(self.problems, values):
            self.log(f"{problem.name}/loss", value, on_step=True, on_epoch=False, batch_size=1)
        self.log("loss", sum(values), prog_bar=True, on_step=True, on_epoch=False, batch_size=1)
        if step == self.steps - 1:
            self.finish_group(values)

    def snapshot(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """``(name, image (C, H, W), kernel (k, k), convolution orientation)`` of the last step's estimates."""
        return [
            (p.name, merge_luminance(p.crop(e.latent)[0].float(), p.chroma), to_convolution_kernel(e.filter.float()))
            for p, e in self._latest
        ]

    def finish_group(self, final_losses: list[float]) -> None:
        """Store the results of the current group (the estimates of its last step) and free it."""
        seconds = time.perf_counter() - self._started
        for (name, image, kernel), loss in zip(self.snapshot(), final_losses):
            self.finished.append(
                DeblurResult(name, image.cpu(), kernel.cpu(), self.steps, loss, seconds, len(self.problems))
            )
        # The last estimates stay available to callbacks (snapshot()) until the next group starts.
        self.problems = ProblemBatch([])
        for opt in self._optimizers():
            _reset(opt)

    def pop_finished(self) -> list[DeblurResult]:
        done, self.finished = self.finished, []
        return done


def _group(params: list[nn.Parameter], lr: float) -> dict:
    """An optimiser parameter group; ``base_lr`` is the learning rate before decay."""
    return {"params": params, "lr": lr, "base_lr": lr}


def _inner(optimizer: object) -> torch.optim.Optimizer:
    """The torch optimiser inside a Lightning ``LightningOptimizer`` wrapper (or itself)."""
    return getattr(optimizer, "optimizer", optimizer)


def _reset(optimizer: object) -> None:
    """Drop all parameter groups and state, in place (the Lightning wrapper shares both)."""
    inner = _inner(optimizer)
    inner.param_groups.clear()
    inner.state.clear()


def _check(option: str, value: object, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"{option} must be {expected}, got {value!r}")
