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
perturbed at each step by Gaussian noise of standard deviation ``generators.input_noise_std`` (0.001, as the
authors).

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
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import cast

import pytorch_lightning as pl
import torch
from pytorch_lightning.core.optimizer import LightningOptimizer
from pytorch_lightning.utilities import rank_zero_warn
from torch import nn

from deblur_core.blur import to_convolution_kernel, to_correlation_filter
from deblur_core.cli_errors import UserError
from deblur_core.color import merge_luminance
from selfdeblur.cuda_precision import cuda_float32_precision
from selfdeblur.data import BlurryImage, GroupBatch
from selfdeblur.full_resolution import deconvolve_photo, smoothness_for
from selfdeblur.kernel_choice import kept_index, kernel_scores
from selfdeblur.kernel_io import read_kernel
from selfdeblur.losses import data_fidelity, learning_rate, total_variation
from selfdeblur.memory_estimate import (
    MemoryEstimate,
    activation_bytes_per_pixel,
    available_bytes,
    estimate_peak_bytes,
    gib,
)
from selfdeblur.networks.image_generator import build_image_generator
from selfdeblur.networks.kernel_generator import FCKernelGenerator, KernelGenerator, build_kernel_generator
from selfdeblur.noise_level import estimate_noise_sigma
from selfdeblur.options import Compute, FastMode, Generators, Optimization, TotalVariation
from selfdeblur.problem import DeblurProblem, Estimate, make_problem
from selfdeblur.problem_batch import ProblemBatch
from selfdeblur.reduced_problem import (
    ReductionPlan,
    estimation_region,
    fast_mode_plan,
    kernel_to_full_scale,
    kernel_to_scale,
    reduce_image,
)
from selfdeblur.result import DeblurResult
from selfdeblur.strategy import NAME as STRATEGY_NAME
from selfdeblur.strategy import IndependentRanks


class NotEnoughMemoryError(ValueError):
    """A group of images would need more memory than the device has (or the limit allows); raised before work."""


class SelfDeblur(pl.LightningModule):
    """Blind deconvolution of single images with deep priors.

    Args:
        optimization: steps, learning rates, their decay and the loss schedule (:class:`Optimization`).
        generators: the architectures of G_x and G_k and their inputs (:class:`Generators`).
        tv: the optional total-variation term (:class:`TotalVariation`).
        compute: how the steps are computed, same results up to rounding (:class:`Compute`).
        fast: the fast mode for large images (:class:`FastMode`): the networks solve a reduced problem for the
            kernel, and non-blind deconvolution makes the full-resolution image. Off by default (the paper's mode).
        seed: base seed; each image's initialisation depends only on it and the image's name.

    Example (three lines; :func:`selfdeblur.deblur` wraps the same):
        >>> from selfdeblur import Generators, Optimization, SelfDeblur, SelfDeblurDataModule, SyntheticBlur
        >>> model = SelfDeblur(Optimization(steps=2), Generators(image_channels=(4, 4), skip_channels=(2, 2),
        ...                    non_local_scales=0))
        >>> pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        ...            enable_checkpointing=False).fit(model, SelfDeblurDataModule(synthetic=SyntheticBlur(size=24,
        ...            kernel_size=5)))
        >>> result = model.finished[0]; result.image.shape, result.kernel.shape
        (torch.Size([1, 24, 24]), torch.Size([5, 5]))
    """

    def __init__(
        self,
        optimization: Optimization = Optimization(),
        generators: Generators = Generators(),
        tv: TotalVariation = TotalVariation(),
        compute: Compute = Compute(),
        seed: int = 0,
        fast: FastMode = FastMode(),
    ) -> None:
        super().__init__()
        self.optimization, self.generators, self.tv, self.compute = optimization, generators, tv, compute
        self.fast = fast
        self.seed = seed
        # Plain dicts: loggers show them, and checkpoints stay loadable with weights_only=True.
        self.save_hyperparameters(
            {"optimization": asdict(optimization), "generators": asdict(generators), "tv": asdict(tv)}
            | {"compute": asdict(compute), "seed": seed, "fast": asdict(fast)}
        )
        self.automatic_optimization = False
        # Coarse to fine (fast.coarse_kernel_sizes): every stage runs the whole schedule.
        self.stages = 1 + len(fast.coarse_kernel_sizes)
        self.steps = optimization.steps * self.stages
        self._stage = 0
        self.problems = ProblemBatch([])
        self.finished: list[DeblurResult] = []
        self._group: int | None = None
        self._noise: list[torch.Generator] = []
        self._tv_weights: list[float] = []
        self._started = 0.0
        self._latest: list[tuple[DeblurProblem, Estimate]] = []
        self._backend_settings = ExitStack()
        # Fast-mode images of the current group: name -> (the full blurry image (C, H, W) on the CPU, its plan).
        self._full_size: dict[str, tuple[torch.Tensor, ReductionPlan]] = {}
        # Problems of the current group that are draws of an image (fast.draws): problem name -> image name.
        self._image_of: dict[str, str] = {}
        self.resumed_steps = 0  # steps of the current group restored from an in-progress state (solver_state)
        self._failed: dict[str, str] = {}  # images of the current group whose loss became NaN or infinite: why

    # -- building ----------------------------------------------------------------------------
    def make_image_generator(self) -> nn.Module:
        return build_image_generator(self.generators)

    def make_kernel_generator(self, kernel_size: int) -> KernelGenerator:
        g = self.generators
        return build_kernel_generator(g.kernel_generator, kernel_size, list(g.kernel_hidden))

    def image_seed(self, name: str) -> int:
        """Seed of an image's initialisation: a function of ``seed`` and the name only."""
        return (self.seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63)

    def draw_names(self, name: str, height: int, width: int, kernel_size: int) -> list[str]:
        """The problems image ``name`` is solved as: itself, and with ``fast.draws`` > 1 for a fast-mode image, its
        other draws ``<name>@draw<d>`` (each initialised from its own name, :meth:`image_seed`)."""
        if self.fast.draws == 1 or fast_mode_plan(self.fast, height, width, kernel_size) is None:
            return [name]
        return [name] + [f"{name}@draw{d}" for d in range(1, self.fast.draws)]

    def check_size(self, source: str, height: int, width: int, kernel_size: int) -> None:
        """G_x halves its input once per scale and its batch normalisation needs at least 2x2 pixels at
        the deepest scale, so ``H + k - 1`` and ``W + k - 1`` must be at least ``2**scales + 1``."""
        scales = self.generators.scales
        smallest = 2**scales + 1
        if min(height, width) + kernel_size - 1 < smallest:
            raise ValueError(
                f"'{source}' ({height}x{width}, kernel {kernel_size}) is too small for G_x's {scales} scales: "
                f"image size + kernel size - 1 must be at least {smallest} "
                "(or use fewer model.generators.image_channels)"
            )

    def build_problem(
        self, name: str, blurry: torch.Tensor, kernel_size: int, stage: int = 0, start: torch.Tensor | None = None
    ) -> DeblurProblem:
        """The problem of image ``name`` (``blurry`` ``(C, H, W)`` at full size) at coarse-to-fine ``stage``, G_k
        started at the full-scale kernel ``start`` (convolution orientation; ``None``: at ``generators.kernel_init``'s
        in the first stage, else as initialised)."""
        blurry = blurry.detach().float().cpu()
        height, width = blurry.shape[-2:]
        plan = fast_mode_plan(self.fast, height, width, kernel_size, stage)
        if plan is not None:
            self._full_size[name] = (blurry, plan)
            blurry, _ = reduce_image(blurry, plan, self.fast.saturation, self.fast.window)
            height, width = blurry.shape[-2:]
            kernel_size = plan.kernel_size
        self.check_size(name, height, width, kernel_size)
        problem = make_problem(
            name,
            blurry,
            kernel_size,
            self.make_image_generator,
            self.make_kernel_generator,
            self.generators.input_channels,
            self.image_seed(name),
        )
        if start is None and stage == 0 and self.generators.kernel_init is not None:
            start = self.kernel_init_of(self._image_of.get(name, name))
        if start is not None:
            scale = plan.scale if plan is not None else min(1.0, kernel_size / start.shape[-1])
            start = to_correlation_filter(kernel_to_scale(start.double(), scale, kernel_size)).float()
            cast(FCKernelGenerator, problem.kernel_generator).start_at(start)
        return problem

    def kernel_init_of(self, name: str) -> torch.Tensor:
        """``generators.kernel_init``'s kernel of image ``name`` (``<name>_kernel.npy``: full scale, convolution
        orientation)."""
        path = Path(str(self.generators.kernel_init)) / f"{name}_kernel.npy"
        if not path.is_file():
            raise UserError(f"model.generators.kernel_init: no '{path}' to start image '{name}' from")
        return read_kernel(path).double()

    def feature_memory_format(self) -> torch.memory_format:
        """Layout of G_x's feature maps (the plain per-problem path; stacked problems are NCHW)."""
        choice = self.compute.memory_format
        if self.compute.stack_problems:
            choice = "contiguous"
        elif choice == "auto":
            choice = "channels_last" if self.device.type == "cpu" else "contiguous"
        return torch.channels_last if choice == "channels_last" else torch.contiguous_format

    def tv_weight_for(self, problem: DeblurProblem) -> float:
        weight = self.tv.weight
        if weight != "auto":
            return float(weight)
        sigma = self.tv.noise_sigma
        if sigma is None:
            sigma = float(estimate_noise_sigma(problem.target[0, 0].float()))
        return self.tv.gain * sigma**2

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
        # Lightning sets trainer.datamodule at run time without declaring it on the Trainer class.
        for image in getattr(self.trainer.datamodule, "images", []):  # type: ignore[attr-defined]
            height, width = image.size
            for level in range(self.stages):
                plan = fast_mode_plan(self.fast, height, width, image.kernel_size, level)
                if plan is None:
                    self.check_size(image.source, height, width, image.kernel_size)
                else:
                    self.check_size(image.source, *plan.window_size, plan.kernel_size)
        self.check_memory(getattr(self.trainer.datamodule, "images", []))  # type: ignore[attr-defined]
        if self.trainer.strategy.root_device.type == "cuda":
            self._backend_settings.enter_context(cuda_float32_precision(self.compute.float32_precision))

    def estimate_memory(self, image: BlurryImage, baseline: int = 0) -> MemoryEstimate:
        """The estimated peak memory of solving ``image`` (validated: its size is known) on this module's device
        and precision (:mod:`selfdeblur.memory_estimate`)."""
        assert image.size is not None  # the DataModule's setup records it
        precision = str(self.trainer.precision) if self._trainer is not None else "32-true"
        halves = {"bf16-true": torch.bfloat16, "16-true": torch.float16}
        dtype = torch.float64 if precision.startswith("64") else halves.get(precision, torch.float32)
        per_pixel = activation_bytes_per_pixel(self.generators, dtype)
        channels = 3  # colour or not, the deconvolution's estimate assumes the larger
        return estimate_peak_bytes(*image.size, image.kernel_size, per_pixel, self.fast, baseline, channels)

    def check_memory(self, images: list[BlurryImage]) -> None:
        """Refuse, before any work, a group of images whose estimated peak exceeds ``compute.memory_limit_gb`` or
        the device's free memory, naming the image, the figures and the option that makes it fit."""
        device = self.trainer.strategy.root_device if self._trainer is not None else self.device
        limit = self.compute.memory_limit_gb
        free = int(limit * 2**30) if limit is not None else available_bytes(device)
        if free is None or not images:
            return
        where = f"model.compute.memory_limit_gb = {limit}" if limit is not None else f"free on {device.type}"
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        n = getattr(datamodule, "images_per_group", 1)
        for start in range(0, len(images), n):
            group = images[start : start + n]
            estimates = [self.estimate_memory(image) for image in group]
            need = sum(e.total for e in estimates)
            if need <= free:
                continue
            worst = max(zip(estimates, group), key=lambda pair: pair[0].total)
            if worst[0].mode == "fast":
                remedy = "a smaller --model.fast.crop, --model.fast.tile or --model.fast.max_kernel_size"
            else:
                remedy = "--model.fast.enabled true (estimate the kernel on a reduced problem)"
            if len(group) > 1:
                remedy += ", or --data.images_per_group 1"
            raise NotEnoughMemoryError(
                f"'{worst[1].source}' needs about {worst[0].describe()}"
                + (f" (its group of {len(group)}: {gib(need)})" if len(group) > 1 else "")
                + f", more than the {gib(free)} {where}; try {remedy}"
            )

    def teardown(self, stage: str) -> None:
        self._backend_settings.close()  # the process's CUDA settings as they were before the fit

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        # Parameters change with every group of images; start_group() fills these optimisers.
        count = 1 if self.optimization.mode == "joint" else 2
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
        self._full_size = {}
        self._image_of = {}
        self._stage = 0
        problems = []
        for name, blurry, kernel_size in zip(batch.names, batch.blurry, batch.kernel_sizes):
            height, width = blurry.shape[-2:]
            for draw in self.draw_names(name, height, width, kernel_size):
                self._image_of[draw] = name
                problems.append(self.build_problem(draw, blurry, kernel_size))
        self._noise = [torch.Generator(device=self.device).manual_seed(self.image_seed(p.name) + 1) for p in problems]
        self.install(problems)
        self._group = batch.group
        self._latest = []
        self._started = time.perf_counter()
        self.resumed_steps = 0
        self._failed = {}

    def install(self, problems: list[DeblurProblem]) -> None:
        """Make ``problems`` the ones the steps optimise: on the device and in the precision, with their TV weights
        and the optimisers reset to their parameters."""
        modules: nn.Module = nn.ModuleList(problems)
        if self._trainer is not None:
            # Built after Lightning converted the module: "64-true" / "16-true" / "bf16-true" must reach them too
            # (a no-op for "32-true" and the mixed precisions, which autocast instead).
            modules = self.trainer.precision_plugin.convert_module(modules)
        # Both conversions return the module they are given: the ModuleList of DeblurProblems.
        converted = cast("Iterable[DeblurProblem]", modules.to(self.device))
        self.problems = ProblemBatch(
            list(converted),
            self.compute.stack_problems,
            self.feature_memory_format(),
            self.compute.blur_method,
        )
        self._tv_weights = [self.tv_weight_for(p) for p in self.problems]
        lr_x, lr_k = self.optimization.lr_image, self.optimization.lr_kernel
        image_params = _group(self.problems.image_parameters(), lr_x)
        kernel_params = _group(self.problems.kernel_parameters(), lr_k)
        opts = self._optimizers()
        groups_per_optimizer = [[image_params, kernel_params]] if len(opts) == 1 else [[image_params], [kernel_params]]
        for opt, groups in zip(opts, groups_per_optimizer):
            _reset(opt)
            for group in groups:
                _inner(opt).add_param_group(group)

    def start_stage(self, stage: int, carry_kernels: bool = True) -> None:
        """Coarse to fine: replace the group's problems by those of ``stage``, G_k started at the current kernels
        brought to the new scale (``carry_kernels``; not when an in-progress state is about to be loaded)."""
        starts: list[torch.Tensor | None] = [None] * len(self.problems)
        if carry_kernels:
            with torch.no_grad():
                filters = self.problems.filters()
            # A failed image (NaN loss) has no kernel to carry; it stays out of the optimisation.
            starts = [
                None
                if p.name in self._failed
                else kernel_to_full_scale(to_convolution_kernel(f.detach().double().cpu()), self._full_size[p.name][1])
                for p, f in zip(self.problems, filters)
            ]
        self.install(
            [
                self.build_problem(
                    p.name, self._full_size[p.name][0], self._full_size[p.name][1].full_kernel_size, stage, start
                )
                for p, start in zip(self.problems, starts)
            ]
        )
        self._stage = stage

    # -- in-progress state (selfdeblur.callbacks.ImageCheckpoint) ------------------------------------------------
    def settings(self) -> dict:
        """What an image's result depends on besides the image: the options, the seed and the precision (not the
        ``compute`` group, whose choices give the same result up to rounding)."""
        precision = str(self.trainer.precision) if self._trainer is not None else "32-true"
        return {key: value for key, value in self.hparams.items() if key != "compute"} | {"precision": precision}

    def solver_state(self, steps_done: int) -> dict:
        """Everything the current group's optimisation needs to continue after ``steps_done`` steps exactly as it
        would have: the problems (G_x, G_k, their fixed inputs), the optimisers' states, the input-noise
        generators, the TV weights, the elapsed seconds. Tensors and plain values only (``weights_only`` loads)."""
        images = [p for p in self.problems if self._image_of.get(p.name, p.name) == p.name]
        return {
            # The images and the sizes asked for, as the batches give them (the fast mode's problems solve a
            # reduced one; with fast.draws an image is several problems).
            "names": [p.name for p in images],
            "kernel_sizes": [
                self._full_size[p.name][1].full_kernel_size if p.name in self._full_size else p.kernel_size
                for p in images
            ],
            "problem_names": [p.name for p in self.problems],
            "steps_done": steps_done,
            "stage": self._stage,
            "settings": self.settings(),
            "problems": self.problems.state_dict(),
            "optimizers": [_inner(opt).state_dict() for opt in self._optimizers()],
            "noise": [g.get_state() for g in self._noise],
            "tv_weights": list(self._tv_weights),
            "failed": dict(self._failed),
            "seconds": time.perf_counter() - self._started,
        }

    def load_solver_state(self, state: dict) -> None:
        """Continue the group :meth:`start_group` has just built from ``state`` (of :meth:`solver_state`); the
        steps before ``state["steps_done"]`` are then skipped."""
        if state.get("problem_names", state["names"]) != [p.name for p in self.problems]:
            raise ValueError(f"in-progress state of {state['names']} does not belong to this group")
        stage = int(state.get("stage", 0))
        if stage != self._stage:
            self.start_stage(stage, carry_kernels=False)
        self.problems.load_state_dict(state["problems"])
        for opt, opt_state in zip(self._optimizers(), state["optimizers"]):
            _inner(opt).load_state_dict(opt_state)
        for generator, noise_state in zip(self._noise, state["noise"]):
            generator.set_state(noise_state)
        self._tv_weights = list(state["tv_weights"])
        self._failed = dict(state.get("failed", {}))
        self._started = time.perf_counter() - float(state["seconds"])
        self.resumed_steps = int(state["steps_done"])

    def _perturbations(self) -> list[torch.Tensor | None]:
        std = self.generators.input_noise_std
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
            loss = data_fidelity(estimate.reblurred.to(dtype), target, step, self.optimization.mse_steps)
            if tv_weight > 0:
                loss = loss + tv_weight * total_variation(estimate.latent.to(dtype), self.tv.norm)
        return loss

    def _set_learning_rates(self, step: int) -> None:
        schedule = self.optimization
        for opt in self._optimizers():
            for group in opt.param_groups:
                group["lr"] = learning_rate(group["base_lr"], step, schedule.milestones, schedule.gamma)

    def _check_finite(self, losses: list[torch.Tensor], step: int) -> list[float]:
        """The losses' values; an image whose loss is NaN or infinite is marked failed (:attr:`_failed`): it drops
        out of the optimisation, nothing is written for it, and the group's other images go on."""
        values = torch.stack([loss.detach() for loss in losses]).float().cpu().tolist()
        for problem, value in zip(self.problems, values):
            finite = value == value and value not in (float("inf"), float("-inf"))
            if not finite and problem.name not in self._failed:
                self._failed[problem.name] = f"failed: the loss became {value} at step {step}"
                rank_zero_warn(
                    f"SelfDeblur: the loss of image '{problem.name}' became {value} at step {step}; nothing will be "
                    "written for it (try a lower model.optimization.lr_image / lr_kernel, or check the input). "
                    "The other images go on."
                )
        return values

    def _total(self, losses: list[torch.Tensor]) -> torch.Tensor | None:
        """The sum of the losses of the images that have not failed (``None`` when all have)."""
        kept = [loss for problem, loss in zip(self.problems, losses) if problem.name not in self._failed]
        return torch.stack(kept).sum() if kept else None

    def training_step(self, batch: GroupBatch, batch_idx: int) -> None:
        if batch.idle:
            return  # this rank's share is done; the other ranks are still solving theirs
        step = batch.step
        if step < self.resumed_steps:
            return  # done before the run was stopped; the state after it was restored
        stage, local_step = divmod(step, self.optimization.steps)
        if stage != self._stage:
            self.start_stage(stage)
        self._set_learning_rates(local_step)
        estimates = self.problems(self._perturbations())
        opts = self._optimizers()
        if len(opts) == 2:
            # SelfDeblur-A: first G_k with G_x fixed ...
            opt_image, opt_kernel = opts
            fixed = [e.latent.detach() for e in estimates]
            kernel_losses = [
                self._loss(p, Estimate(x, e.filter, self.problems.blur(x, e.filter)), local_step, 0.0)
                for p, e, x in zip(self.problems, estimates, fixed)
            ]
            self._check_finite(kernel_losses, step)
            opt_kernel.zero_grad(set_to_none=True)
            kernel_total = self._total(kernel_losses)
            if kernel_total is not None:
                self.manual_backward(kernel_total)
                opt_kernel.step()
            # ... then G_x with the updated G_k fixed.
            with torch.no_grad():
                filters = self.problems.filters()
            estimates = [Estimate(e.latent, f, self.problems.blur(e.latent, f)) for e, f in zip(estimates, filters)]
            opt = opt_image
        else:
            opt = opts[0]
        losses = [self._loss(p, e, local_step, w) for p, e, w in zip(self.problems, estimates, self._tv_weights)]
        values = self._check_finite(losses, step)
        opt.zero_grad(set_to_none=True)
        total = self._total(losses)
        if total is not None:
            self.manual_backward(total)
            opt.step()

        self._latest = [(p, Estimate(*(t.detach() for t in e))) for p, e in zip(self.problems, estimates)]
        for problem, value in zip(self.problems, values):
            self.log(f"{problem.name}/loss", value, on_step=True, on_epoch=False, batch_size=1)
        self.log("loss", sum(values), prog_bar=True, on_step=True, on_epoch=False, batch_size=1)
        if step == self.steps - 1:
            self.finish_group(values)

    def snapshot(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """``(name, image (C, H, W), kernel (k, k) in convolution orientation)`` of the last step's estimates."""
        return [
            (p.name, merge_luminance(p.crop(e.latent)[0].float(), p.chroma), to_convolution_kernel(e.filter.float()))
            for p, e in self._latest
        ]

    def finish_group(self, final_losses: list[float]) -> None:
        """Store the results of the current group (the estimates of its last step) and free it."""
        draws: dict[str, list[tuple[str, torch.Tensor, torch.Tensor, float]]] = {}
        for (name, image, kernel), loss in zip(self.snapshot(), final_losses):
            draws.setdefault(self._image_of.get(name, name), []).append((name, image.cpu(), kernel.cpu(), loss))
        results = []
        for image_name, solved in draws.items():
            note = ""
            if len(solved) > 1:
                kept, note = self.choose_draw(image_name, solved)
                solved = [kept]
            name, image, kernel, loss = solved[0]
            if name in self._full_size and name not in self._failed:
                image, kernel = self.full_resolution(name, kernel)
            status = self._failed.get(name)
            results.append((image_name, image, kernel, loss, status, note))
        seconds = time.perf_counter() - self._started
        images = len(draws)
        for name, image, kernel, loss, status, note in results:
            status = status or collapse(image, kernel) or "ok"
            if status.startswith("collapsed"):
                rank_zero_warn(f"SelfDeblur: image '{name}' {status}; its result is written but is likely wrong")
            self.finished.append(DeblurResult(name, image, kernel, self.steps, loss, seconds, images, status, note))
        # The last estimates stay available to callbacks (snapshot()) until the next group starts.
        self.problems = ProblemBatch([])
        self._full_size = {}
        for opt in self._optimizers():
            _reset(opt)

    def choose_draw(
        self, image_name: str, solved: list[tuple[str, torch.Tensor, torch.Tensor, float]]
    ) -> tuple[tuple[str, torch.Tensor, torch.Tensor, float], str]:
        """The draw of ``image_name`` whose kernel ``fast.choose`` keeps (:mod:`selfdeblur.kernel_choice`), among
        those that did not fail, compared at full scale; and a note on the choice. ``solved``: ``(problem name,
        image, reduced kernel, final loss)`` of each draw, the first draw first."""
        usable = [entry for entry in solved if entry[0] not in self._failed]
        if not usable:  # their kernels may hold NaN: nothing to choose from
            return solved[0], f"all {len(solved)} draws failed"
        f = self.fast
        blurry, plan = self._full_size[usable[0][0]]
        kernels = [kernel_to_full_scale(entry[2].double(), plan).float() for entry in usable]
        deconvolve = None
        if f.choose == "sparsity":
            region = estimation_region(blurry, plan, f.saturation, f.window)
            weight = smoothness_for(blurry, f.smoothness)

            def deconvolve(kernel: torch.Tensor) -> torch.Tensor:
                return deconvolve_photo(region, kernel, weight, f.saturation, f.tile, f.cg_iterations)

        scores = kernel_scores(kernels, f.choose, deconvolve)
        kept = kept_index(scores, f.choose)
        draw = next(i for i, entry in enumerate(solved) if entry[0] == usable[kept][0])
        what = {"consensus": "mean similarity to the others", "spread": "peak mass", "sparsity": "l1/l2"}[f.choose]
        note = f"draw {draw + 1} of {len(solved)} kept ({f.choose}: {what} {scores[kept]:.3f})"
        if len(usable) < len(solved):
            note += f"; {len(solved) - len(usable)} failed"
        return usable[kept], note

    def full_resolution(self, name: str, kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fast mode: the reduced problem's kernel ``(k_s, k_s)`` at full scale, and the full-resolution image
        ``(C, H, W)`` it deconvolves (:mod:`selfdeblur.full_resolution`)."""
        blurry, plan = self._full_size.pop(name)
        full_kernel = kernel_to_full_scale(kernel.float(), plan)
        f = self.fast
        image = deconvolve_photo(blurry, full_kernel, f.smoothness, f.saturation, f.tile, f.cg_iterations)
        return image, full_kernel.float()

    def pop_finished(self) -> list[DeblurResult]:
        done, self.finished = self.finished, []
        return done


def collapse(image: torch.Tensor, kernel: torch.Tensor) -> str | None:
    """Why a finite result looks collapsed, or ``None``: a kernel with at least 90% of its mass in one pixel (the
    blur explained away) together with an image of which half the pixels or more sit at 0 or 1 (G_x saturated),
    as large learning rates produce without any NaN. ``image`` ``(C, H, W)`` in [0, 1], ``kernel`` ``(k, k)``."""
    peak = float(kernel.max() / kernel.sum().clamp_min(1e-12))
    clipped = float(((image <= 1 / 255) | (image >= 254 / 255)).float().mean())
    if kernel.numel() > 1 and peak >= 0.9 and clipped >= 0.5:
        return f"collapsed: {peak:.0%} of the kernel in one pixel and {clipped:.0%} of the image at 0 or 1"
    return None


def _group(params: list[nn.Parameter], lr: float) -> dict:
    """An optimiser parameter group; ``base_lr`` is the learning rate before decay."""
    return {"params": params, "lr": lr, "base_lr": lr}


def _inner(optimizer: torch.optim.Optimizer | LightningOptimizer) -> torch.optim.Optimizer:
    """The torch optimiser inside a Lightning ``LightningOptimizer`` wrapper (or itself)."""
    return optimizer.optimizer if isinstance(optimizer, LightningOptimizer) else optimizer


def _reset(optimizer: torch.optim.Optimizer | LightningOptimizer) -> None:
    """Drop all parameter groups and state, in place (the Lightning wrapper shares both)."""
    inner = _inner(optimizer)
    inner.param_groups.clear()
    inner.state.clear()
