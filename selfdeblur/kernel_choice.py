r"""Choosing one kernel among several estimates of the same blur, without the truth.

The fast mode can solve its reduced problem from several initialisations (``model.fast.draws``): SelfDeblur's
estimate depends on the draw of G_x's and G_k's weights and inputs, and under noise some draws end far from the
blur. Two rules pick one kernel per image:

- ``"consensus"``: the kernel with the highest mean similarity to the others, the similarity being Hu and Yang's
  (ECCV 2012: the largest normalised cross-correlation over all shifts, 1 for equal kernels up to a shift). Draws
  that find the blur agree with each other; draws that fail, fail in different ways. Needs three draws or more
  (with two, both kernels score the same and the first is kept).
- ``"spread"``: the kernel with the lowest :func:`peak_mass`, the share of its mass in its largest tenth of
  values. MAP-type estimates err towards kernels too compact (Levin et al., CVPR 2009).

Both are measured in docs/results/draw_choice.md.

Example:
    >>> line = torch.zeros(5, 5); line[2, :] = 0.2  # a horizontal blur, found by two draws ...
    >>> dot = torch.zeros(5, 5); dot[2, 2] = 1.0  # ... and missed by a third
    >>> choose_kernel([dot, line, line.roll(1, 1)], "consensus"), choose_kernel([dot, line], "spread")
    (1, 1)
    >>> round(peak_mass(dot), 3), round(peak_mass(line), 3)
    (1.0, 0.6)
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from selfdeblur.levin_protocol import kernel_similarity

Rule = Literal["consensus", "spread"]
RULES: tuple[Rule, ...] = ("consensus", "spread")


def peak_mass(kernel: torch.Tensor, share: float = 0.1) -> float:
    """Share of the mass of ``kernel`` (``(k, k)``, non-negative) in its largest ``share`` of values: 1 when a few
    pixels hold it all, ``share`` for a flat kernel."""
    values = kernel.flatten().double().sort(descending=True).values
    return float(values[: math.ceil(share * values.numel())].sum() / values.sum())


def consensus(kernels: list[torch.Tensor]) -> list[float]:
    """For each kernel ``(k, k)``, its mean similarity (Hu and Yang) to the other kernels (all 1.0 for one)."""
    if len(kernels) == 1:
        return [1.0]
    similarity = [
        [kernel_similarity(a, b) if i != j else 0.0 for j, b in enumerate(kernels)] for i, a in enumerate(kernels)
    ]
    return [sum(row) / (len(kernels) - 1) for row in similarity]


def choose_kernel(kernels: list[torch.Tensor], rule: Rule) -> int:
    """The index of the kernel ``rule`` keeps (the first among equals) among ``kernels``, each ``(k, k)`` in the same
    orientation and at the same scale."""
    if not kernels:
        raise ValueError("choose_kernel needs at least one kernel")
    if rule == "consensus":
        scores = consensus(kernels)
        return max(range(len(kernels)), key=lambda i: scores[i])
    if rule == "spread":
        masses = [peak_mass(k) for k in kernels]
        return min(range(len(kernels)), key=lambda i: masses[i])
    raise ValueError(f"unknown rule {rule!r}: one of {', '.join(RULES)}")
