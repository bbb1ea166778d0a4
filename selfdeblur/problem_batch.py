"""The problems of one group, run together: one by one, or stacked into batched calls.

SelfDeblur optimises a group of images at once, each with its own G_x, G_k and fixed inputs
(:class:`selfdeblur.problem.DeblurProblem`). :class:`ProblemBatch` runs their generators:

* ``stack=False``: a Python loop over the problems (the plain path).
* ``stack=True``: problems whose generators and inputs have the same shapes (same image size,
  kernel size and architecture) are stacked with :class:`selfdeblur.stacked_module.StackedModule`,
  so their G_x run as one call of grouped convolutions and their G_k as one batched product.
  Problems of other sizes form their own stacks; a stack of one is still a stack (same code path).

Both give the same estimates up to floating-point summation order: batch normalisation inside
G_x normalises each problem over its own pixels in either case (batch size 1 per problem).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast

import torch
from torch import nn

from deblur_core.blur import correlate_valid
from selfdeblur.problem import DeblurProblem, Estimate
from selfdeblur.stacked_module import StackedModule, structure


def stack_key(problem: DeblurProblem) -> tuple:
    """Problems with equal keys can share a stack."""
    return (
        structure(problem.image_generator),
        structure(problem.kernel_generator),
        tuple(problem.image_input.shape),
        tuple(problem.kernel_input.shape),
    )


class ProblemBatch(nn.Module):
    """The generators of a group's problems (see the module docstring).

    Args:
        problems: the group's problems, in order.
        stack: stack problems of equal shapes into batched calls.
        memory_format: layout of G_x's 4-D tensors on the plain path (``torch.channels_last`` lets
            oneDNN use its faster NHWC convolutions on CPU). Stacked problems use the default layout.
        blur_method: how G_k's filter is applied to G_x's image (``method`` of
            :func:`deblur_core.blur.correlate_valid`).

    Iterating over a batch gives the problems; :meth:`forward` gives one :class:`Estimate` each.
    """

    def __init__(
        self,
        problems: Sequence[DeblurProblem],
        stack: bool = False,
        memory_format: torch.memory_format = torch.contiguous_format,
        blur_method: str = "direct",
    ) -> None:
        super().__init__()
        self.problems = nn.ModuleList(problems)
        self.blur_method = blur_method
        self.image_stacks = nn.ModuleList()
        self.kernel_stacks = nn.ModuleList()
        self.members: list[list[int]] = []  # problem indices of each stack
        for problem in problems:
            problem.blur_method = blur_method
        if stack:
            by_key: dict[tuple, list[int]] = {}
            for i, problem in enumerate(problems):
                by_key.setdefault(stack_key(problem), []).append(i)
            for members in by_key.values():
                self.members.append(members)
                self.image_stacks.append(StackedModule([problems[i].image_generator for i in members]))
                self.kernel_stacks.append(StackedModule([problems[i].kernel_generator for i in members]))
            # The stacks hold the weights now; the problems keep their targets and fixed inputs.
            for problem in problems:
                del problem.image_generator, problem.kernel_generator
        elif memory_format != torch.contiguous_format:
            for problem in problems:
                problem.memory_format = memory_format
                problem.image_generator.to(memory_format=memory_format)
                problem.register_buffer("image_input", problem.image_input.contiguous(memory_format=memory_format))

    @property
    def stacked(self) -> bool:
        return bool(self.members)

    def __len__(self) -> int:
        return len(self.problems)

    # ModuleList is not generic: its items are typed as Module. Only DeblurProblems are put in.
    def __iter__(self) -> Iterator[DeblurProblem]:
        return cast(Iterator[DeblurProblem], iter(self.problems))

    def __getitem__(self, index: int) -> DeblurProblem:
        return cast(DeblurProblem, self.problems[index])

    def image_parameters(self) -> list[nn.Parameter]:
        if self.stacked:
            return list(self.image_stacks.parameters())
        return [q for p in self for q in p.image_generator.parameters()]

    def kernel_parameters(self) -> list[nn.Parameter]:
        if self.stacked:
            return list(self.kernel_stacks.parameters())
        return [q for p in self for q in p.kernel_generator.parameters()]

    def blur(self, latent: torch.Tensor, correlation_filter: torch.Tensor) -> torch.Tensor:
        """The forward model: 'valid' correlation of a latent image with a filter."""
        return correlate_valid(latent, correlation_filter, self.blur_method)

    def filters(self) -> list[torch.Tensor]:
        """G_k(z_k) of every problem, ``(k, k)`` correlation filters."""
        if not self.stacked:
            return [p.kernel_generator(p.kernel_input) for p in self]
        out: dict[int, torch.Tensor] = {}
        for members, kernels in zip(self.members, self.kernel_stacks):
            stacked = kernels(torch.stack([self[i].kernel_input for i in members]))
            for i, filt in zip(members, stacked.unbind(0)):
                out[i] = filt
        return [out[i] for i in range(len(self))]  # the stacks' members cover every problem

    def forward(self, perturbations: Sequence[torch.Tensor | None]) -> list[Estimate]:
        """One estimate per problem; ``perturbations[i]`` (shape of ``z_x``, or None) is added to
        problem ``i``'s ``z_x``."""
        if not self.stacked:
            return [problem(noise) for problem, noise in zip(self, perturbations)]
        out: dict[int, Estimate] = {}
        filters = self.filters()
        for members, images in zip(self.members, self.image_stacks):
            latents = images(torch.stack([self[i].perturbed_input(perturbations[i]) for i in members]))
            for i, latent in zip(members, latents.unbind(0)):
                out[i] = Estimate(latent, filters[i], self.blur(latent, filters[i]))
        return [out[i] for i in range(len(self))]
