r"""Choosing one kernel among several estimates of the same blur, without the truth.

The fast mode can solve its reduced problem from several initialisations (``model.fast.draws``): SelfDeblur's
estimate depends on the draw of G_x's and G_k's weights and inputs, and under noise some draws end far from the
blur. Three rules pick one kernel per image:

- ``"consensus"``: the kernel with the highest mean similarity to the others, the similarity being Hu and Yang's
  (ECCV 2012: the largest normalised cross-correlation over all shifts, 1 for equal kernels up to a shift). It
  assumes that draws that find the blur agree and draws that fail, fail in different ways; on Kodak photos at 2%
  noise they did not (compact wrong kernels resemble each other and every other kernel). Needs three draws or
  more (with two, both kernels score the same and the first is kept).
- ``"spread"``: the kernel with the lowest :func:`peak_mass`, the share of its mass in its largest tenth of
  values. MAP-type estimates err towards kernels too compact (Levin et al., CVPR 2009).
- ``"sparsity"``: the kernel whose deconvolution of the photo is sparsest in Krishnan et al.'s sense (CVPR 2011):
  the lowest l1/l2 ratio of the luma's horizontal and vertical differences (:func:`normalised_sparsity`), which
  blur raises (it spreads each edge over several small differences) and so does ringing. It deconvolves a region
  with each kernel, so it costs one non-blind deconvolution of that region per draw.

All three are measured in docs/results/draw_choice.md; ``"sparsity"`` did best there and is the default.

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
from collections.abc import Callable
from typing import Literal

import torch

from deblur_core.color import to_luma
from selfdeblur.levin_protocol import kernel_similarity

Rule = Literal["consensus", "spread", "sparsity"]
RULES: tuple[Rule, ...] = ("consensus", "spread", "sparsity")


def peak_mass(kernel: torch.Tensor, share: float = 0.1) -> float:
    """Share of the mass of ``kernel`` (``(k, k)``, non-negative) in its largest ``share`` of values: 1 when a few
    pixels hold it all, ``share`` for a flat kernel."""
    values = kernel.flatten().double().sort(descending=True).values
    return float(values[: math.ceil(share * values.numel())].sum() / values.sum())


def consensus(kernels: list[torch.Tensor]) -> list[float]:
    """For each kernel ``(k, k)``, its mean similarity (Hu and Yang) to the other kernels (all 1.0 for one)."""
    if len(kernels) == 1:
        return [1.0]
    n = len(kernels)
    totals = [0.0] * n
    for i in range(n):
        for j in range(i + 1, n):  # the similarity is symmetric: each pair once
            s = kernel_similarity(kernels[i], kernels[j])
            totals[i] += s
            totals[j] += s
    return [t / (n - 1) for t in totals]


def normalised_sparsity(image: torch.Tensor) -> float:
    """l1 / l2 of the horizontal and vertical forward differences of a ``(H, W)`` image (Krishnan et al. 2011): low
    for a few strong edges, higher for the same edges blurred or ringing."""
    d = torch.cat([(image[:, 1:] - image[:, :-1]).flatten(), (image[1:] - image[:-1]).flatten()]).double()
    return float(d.abs().sum() / d.norm())


def kernel_scores(
    kernels: list[torch.Tensor], rule: Rule, deconvolve: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> list[float]:
    """Each kernel's score under ``rule``: its consensus (higher is kept), peak mass or sparsity (lower is kept).
    ``deconvolve`` (for ``"sparsity"``): a kernel ``(k, k)`` -> the region deconvolved with it, ``(C, h, w)`` in [0,
    1], whose luma (:func:`deblur_core.color.to_luma`, ``"gray"``) is scored."""
    if rule == "consensus":
        return consensus(kernels)
    if rule == "spread":
        return [peak_mass(k) for k in kernels]
    if rule == "sparsity":
        if deconvolve is None:
            raise ValueError("the rule 'sparsity' needs a deconvolve function")
        return [normalised_sparsity(to_luma(deconvolve(k)[None], "gray")[0, 0]) for k in kernels]
    raise ValueError(f"unknown rule {rule!r}: one of {', '.join(RULES)}")


def choose_kernel(
    kernels: list[torch.Tensor], rule: Rule, deconvolve: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> int:
    """The index of the kernel ``rule`` keeps (the first among equals) among ``kernels``, each ``(k, k)`` in the same
    orientation and at the same scale (``deconvolve``: see :func:`kernel_scores`)."""
    if not kernels:
        raise ValueError("choose_kernel needs at least one kernel")
    return kept_index(kernel_scores(kernels, rule, deconvolve), rule)


def kept_index(scores: list[float], rule: Rule) -> int:
    """The index ``rule`` keeps given the kernels' :func:`kernel_scores` (the first among equals)."""
    pick = max if rule == "consensus" else min
    return pick(range(len(scores)), key=lambda i: scores[i])
