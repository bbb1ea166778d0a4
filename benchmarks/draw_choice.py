"""Choosing among several draws of the fast mode without the truth: rules scored on cases of
``benchmarks.selfdeblur_fast`` that were solved from several initialisations, as JSON lines and a Markdown table.

Usage::

    python -m benchmarks.draw_choice --from results/selfdeblur_fast/draws.jsonl \\
        --out results/selfdeblur_fast/draw_scores.jsonl --report docs/results/draw_choice.md --overwrite

The lines of ``--from`` that share a problem (photo, kernel, noise) and every setting of the solve (steps, TV
weight, fast-mode options) but not the initialisation are the draws of one group. For each draw, measured without
the truth:

- ``peak_mass``: the share of the estimated kernel's mass in its largest tenth of values (1 for a few-pixel
  kernel, 0.1 for a flat one). MAP-type estimates err towards kernels too compact (Levin et al., CVPR 2009).
- ``sparsity``: Krishnan et al.'s normalised sparsity (CVPR 2011), the l1/l2 ratio of the horizontal and vertical
  differences of the luma of the photo's region that the estimation window showed, deconvolved with the draw's
  kernel as the fast mode deconvolves (at the weight the line's solve used): what ``model.fast.choose: sparsity``
  computes (:mod:`selfdeblur.kernel_choice`).
- ``consensus``: the mean kernel similarity (Hu and Yang) of the draw's kernel to the group's other kernels.

The rules keep, in each group, the draw with the lowest peak mass (``spread``), the lowest sparsity
(``sparsity``) or the highest consensus (``consensus``). Each is judged by the PSNR gain over the blurry input of
the draw it keeps (the line's full-frame ``fast_mode`` score), beside the mean, best and worst draw. Scores already
in ``--out`` are not computed again. Lines made before the benchmark named the image after the problem are draws
too (of their own name's initialisation); they are marked "(drawn by name)".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import NOTES_MARKER, code_version, write_report
from benchmarks.selfdeblur_fast import done_names, problem_name, read_lines, synthetic_case
from deblur_core.color import to_luma
from selfdeblur.kernel_choice import Rule, consensus, kept_index, kernel_scores, normalised_sparsity, peak_mass

RULES: dict[Rule, str] = {"spread": "peak_mass", "sparsity": "sparsity", "consensus": "consensus"}  # rule: score


def problem_of(line: dict[str, Any]) -> str:
    """The line's problem; lines made before the benchmark recorded it get it from their photo, kernel and noise."""
    if "problem" in line:
        return str(line["problem"])
    return problem_name(Path(line["sharp"]).stem, line["kernel_size"], line["kernel_seed"], line["noise"])


def draw_name(line: dict[str, Any]) -> str:
    """The line's name, marked when its image was named after the line (the draw of the line's name)."""
    return str(line["name"]) if "problem" in line else f"{line['name']} (drawn by name)"


def group_key(line: dict[str, Any]) -> str:
    """What two draws of one group share: the problem and every setting of the solve."""
    settings = {k: line.get(k) for k in ("steps", "tv_weight", "fast")}
    return problem_of(line) + " " + json.dumps(settings, sort_keys=True)


def draw_scores(line: dict[str, Any]) -> dict[str, Any]:
    """The truth-free scores of one draw (all but consensus, which needs the group)."""
    from selfdeblur.full_resolution import deconvolve_photo
    from selfdeblur.options import FastMode
    from selfdeblur.reduced_problem import estimation_region, fast_mode_plan

    blurry = synthetic_case(line)[0]
    fast = FastMode(**{k: v for k, v in line["fast_options"].items() if k in FastMode.__dataclass_fields__})
    plan = fast_mode_plan(fast, blurry.shape[1], blurry.shape[2], line["kernel_size"])
    assert plan is not None  # the benchmark's cases are solved in the fast mode
    region = estimation_region(blurry, plan, fast.saturation, fast.window)
    kernel = torch.tensor(line["kernel"])

    def deconvolve(k: torch.Tensor) -> torch.Tensor:
        return deconvolve_photo(region, k, line["smoothness_used"], fast.saturation, fast.tile, fast.cg_iterations)

    (sparsity,) = kernel_scores([kernel], "sparsity", deconvolve)
    return {
        "name": draw_name(line),
        "group": group_key(line),
        "region": list(region.shape[1:]),
        "peak_mass": peak_mass(kernel),
        "sparsity": sparsity,
        "sparsity_blurry": normalised_sparsity(to_luma(region[None], "gray")[0, 0]),
        "code": code_version(),
    }


def groups(lines: list[dict[str, Any]], scored: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Draws (the line merged with its scores and consensus) by group, groups of at least two draws only."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if draw_name(line) in scored:
            by_group.setdefault(group_key(line), []).append(line | scored[draw_name(line)])
    out = {}
    for key, draws in by_group.items():
        if len(draws) < 2:
            continue
        scores = consensus([torch.tensor(d["kernel"]) for d in draws])
        for d, score in zip(draws, scores):
            d["consensus"] = score
            d["gain"] = d["fast_mode"]["psnr"] - d["blurry"]["psnr"]
        out[key] = draws
    return out


def chosen(draws: list[dict[str, Any]], rule: Rule) -> dict[str, Any]:
    return draws[kept_index([d[RULES[rule]] for d in draws], rule)]


def report(by_group: dict[str, list[dict[str, Any]]], command: str) -> str:
    text = [
        "# Choosing among several draws without the truth",
        "",
        f"Generated by `{command}` (module docstring of `benchmarks.draw_choice`: the scores and the rules).",
        "Gain: full-frame PSNR (Y channel, Levin's alignment) of the draw's result minus the blurry input's.",
        "",
    ]
    summary: list[tuple[str, list[float], list[float]]] = []
    for draws in by_group.values():
        problem = problem_of(draws[0])
        text += [
            f"**{problem}** ({len(draws)} draws; blurry {draws[0]['blurry']['psnr']:.2f} dB)",
            "",
            "| draw | gain (dB) | kernel similarity to the truth | peak mass | sparsity | consensus |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for d in draws:
            text.append(
                f"| {d['name']} | {d['gain']:+.2f} | {d['kernel_similarity']:.3f} | {d['peak_mass']:.3f} | "
                f"{d['sparsity']:.2f} | {d['consensus']:.3f} |"
            )
        text.append("")
        summary.append((problem, [d["gain"] for d in draws], [chosen(draws, r)["gain"] for r in RULES]))
    text += [
        "| problem | mean draw | best draw | worst draw | " + " | ".join(f"rule `{r}`" for r in RULES) + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in RULES) + " |",
    ]
    columns = []
    for problem, gains, picks in summary:
        row = [sum(gains) / len(gains), max(gains), min(gains), *picks]
        columns.append(row)
        text.append(f"| {problem} | " + " | ".join(f"{v:+.2f}" for v in row) + " |")
    if columns:
        means = [sum(column) / len(columns) for column in zip(*columns)]
        text.append(f"| mean of {len(columns)} | " + " | ".join(f"{v:+.2f}" for v in means) + " |")
    return "\n".join(text) + "\n\n" + NOTES_MARKER + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.draw_choice", description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="sources", nargs="+", required=True, help="JSON lines of selfdeblur_fast")
    parser.add_argument("--out", required=True, help="JSON lines of scores (draws already in it are skipped)")
    parser.add_argument("--report", help="write the Markdown tables here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --report")
    args = parser.parse_args(argv)
    lines = [line for source in args.sources for line in read_lines(Path(source)) if "kernel" in line]
    counts: dict[str, int] = {}
    for line in lines:
        counts[group_key(line)] = counts.get(group_key(line), 0) + 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = done_names(out)
    for line in lines:
        if counts[group_key(line)] >= 2 and draw_name(line) not in done:
            row = draw_scores(line)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    if args.report:
        scored = {r["name"]: r for r in read_lines(out)}
        command = "python -m benchmarks.draw_choice " + " ".join(argv if argv is not None else sys.argv[1:])
        write_report(Path(args.report), report(groups(lines, scored), command), args.overwrite)


if __name__ == "__main__":
    main()
