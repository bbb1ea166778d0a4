"""The fast mode on colour photos with known truth: time, peak memory and quality, as JSON.

Usage::

    # quality under noise: Kodak photos, seeded camera-shake kernels, 0.5-2% Gaussian noise
    python -m benchmarks.selfdeblur_fast --sharp ../shared/data/sharp/kodak24 --images 2 --kernel-size 25 \\
        --noise 0.005 0.01 0.02 --out results/selfdeblur_fast/noise.jsonl
    # the size targets: a 1280x720 photo with k = 31, a 4000x3000 one with k = 51
    python -m benchmarks.selfdeblur_fast --size 720x1280 --kernel-size 31 --noise 0.01 \\
        --out results/selfdeblur_fast/size.jsonl
    # a table of the JSON lines
    python -m benchmarks.selfdeblur_fast --report docs/results/selfdeblur_fast.md \\
        --from results/selfdeblur_fast/noise.jsonl results/selfdeblur_fast/size.jsonl

Each case is a sharp photo (a file of ``--sharp``, or with ``--size``, scikit-image's ``astronaut`` resized to it)
of ``H + k - 1`` by ``W + k - 1`` pixels, blurred ('valid') with ``random_motion_kernel(k, seed)`` plus Gaussian
noise, so that the ``H x W`` blurry image has a known truth (its centre). It is solved as ``selfdeblur.deblur``
does, with the fast mode on, in a subprocess of its own (so that the peak resident memory is the case's). The line
reports the wall-clock seconds of the solve, the peak RSS, and on the Y channel (BT.601, studio range, as Lai et
al.'s scoring) with Levin's alignment (shifts up to 10 px, 15 px border): the PSNR and SSIM of the blurry image, of
the fast mode's result, and of the same deconvolution with the true kernel (what a perfect kernel would give), and
the kernel similarity (Hu and Yang). Lines already in ``--out`` are not run again.

SelfDeblur draws an image's initialisation (G_x's and G_k's weights and inputs) from ``model.seed`` and the image's
name. The image is named after the problem (photo, kernel size and seed, noise: the line's ``problem``), so every
setting tried on a problem starts from the same initialisation and two settings compare paired; ``--init-seeds``
draws other initialisations (``model.seed``), to measure how much a result owes to its draw. Lines made before
2026-11-30's fifth session have no ``problem``: their image was named after the whole line, so each of their
settings started from an initialisation of its own.

Photos above 4 megapixels are scored on their centre 1024x1024 (the true kernel's deconvolution runs on that crop
too); the peak memory is taken before the scoring.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import NOTES_MARKER, cell, code_version, cpu_name, machines_text, peak_rss_mb, write_report

STEPS = 1000  # the fast mode's schedule: the paper's 2500-step real-photo schedule compressed like the demo's
MILESTONES = (500, 650, 850)
MSE_STEPS = 250


def sharp_photo(source: str, height: int, width: int) -> torch.Tensor:
    """``(3, height, width)`` in [0, 1]: a photo file resized to cover the size and centre-cropped, or with source
    ``"astronaut"``, scikit-image's sample."""
    from deblur_core.crop import center_crop
    from deblur_core.image_io import read_image
    from deblur_core.sample_images import load_skimage

    image = load_skimage("astronaut") if source == "astronaut" else read_image(source)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    scale = max(height / image.shape[1], width / image.shape[2])
    if scale > 1:
        size = (round(image.shape[1] * scale + 0.5), round(image.shape[2] * scale + 0.5))
        image = F.interpolate(image[None], size=size, mode="bicubic", align_corners=False)[0].clamp(0, 1)
    return center_crop(image[:3], height, width).contiguous()


def luma_y(image: torch.Tensor) -> torch.Tensor:
    from deblur_core.color import rgb_to_y

    return rgb_to_y(image[None].double())[0, 0]


def scores(estimate: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    from selfdeblur.levin_protocol import align_upto_shift, psnr_255, ssim_wang

    aligned = align_upto_shift(luma_y(estimate), luma_y(truth), 10)
    return {"psnr": psnr_255(aligned.image, aligned.truth), "ssim": ssim_wang(aligned.image, aligned.truth)}


def synthetic_case(case: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The case's blurry photo ``(3, H, W)``, its truth ``(3, H, W)`` and the true kernel ``(k, k)`` (module
    docstring)."""
    from deblur_core import motion_blur
    from deblur_core.crop import center_crop

    h, w, k = case["height"], case["width"], case["kernel_size"]
    sharp = sharp_photo(case["sharp"], h + k - 1, w + k - 1)
    kernel = motion_blur.random_motion_kernel(k, seed=case["kernel_seed"])
    blurry = motion_blur.blur(sharp, kernel, case["noise"], seed=case["kernel_seed"])
    return blurry, center_crop(sharp, h, w), kernel


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    from deblur_core.crop import center_crop
    from selfdeblur.api import solver_trainer
    from selfdeblur.data import BlurryImage, ImagesInMemory
    from selfdeblur.full_resolution import deconvolve_photo, smoothness_for
    from selfdeblur.levin_protocol import kernel_similarity
    from selfdeblur.lightning_module import SelfDeblur
    from selfdeblur.options import FastMode, Optimization, TotalVariation

    h, w, k = case["height"], case["width"], case["kernel_size"]
    blurry, truth, kernel = synthetic_case(case)
    fast = FastMode(enabled=True, **case["fast"])
    image = BlurryImage(case.get("problem", case["name"]), k, blurry, truth, kernel, description=case["name"])

    # What selfdeblur.deblur(...) does, with the image in memory.
    tv = TotalVariation(weight=case.get("tv_weight", 0.0))
    schedule = Optimization(steps=case["steps"], milestones=MILESTONES, mse_steps=MSE_STEPS)
    model = SelfDeblur(schedule, tv=tv, fast=fast, seed=case.get("init_seed", 0))
    started = time.perf_counter()
    solver_trainer("cpu").fit(model, datamodule=ImagesInMemory([image]))
    seconds = time.perf_counter() - started
    result = model.finished[0]
    peak_mb = peak_rss_mb()  # of the solve (the scoring below is the benchmark's, not the user's)
    large = h * w > 4_000_000
    if large:
        # Levin's alignment holds every shifted copy of the image: score the centre 1024x1024 of large photos.
        truth, blurry, result.image = (center_crop(t, 1024, 1024) for t in (truth, blurry, result.image))
    started = time.perf_counter()
    known = deconvolve_photo(blurry, kernel, fast.smoothness, fast.saturation, fast.tile, fast.cg_iterations)
    deconvolution_seconds = time.perf_counter() - started
    return case | {
        "seconds": round(seconds, 1),
        # The true kernel's deconvolution: the same work as the solve's (on the scored crop only for large photos).
        "deconvolution_seconds": None if large else round(deconvolution_seconds, 1),
        "peak_rss_mb": round(peak_mb),
        "blurry": scores(blurry, truth),
        "fast_mode": scores(result.image, truth),
        "true_kernel": scores(known, truth),
        "smoothness_used": smoothness_for(blurry, fast.smoothness),
        "kernel_similarity": kernel_similarity(result.kernel, kernel),
        "note": result.note,
        "kernel_similarity_rotated": kernel_similarity(result.kernel.flip(0, 1), kernel),  # orientation check
        "kernel": [[round(float(v), 6) for v in row] for row in result.kernel],
        "fast_options": asdict(fast),
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "code": code_version(),
    }


def problem_name(stem: str, kernel_size: int, kernel_seed: int, noise: float) -> str:
    """The name of a case's problem (photo, kernel, noise), after which its image is named."""
    return f"{stem}_k{kernel_size}_seed{kernel_seed}_noise{noise:g}"


def cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    smoothness = args.smoothness if args.smoothness == "auto" else float(args.smoothness)
    fast = {"max_kernel_size": args.max_kernel_size, "crop": args.crop, "smoothness": smoothness}
    if args.coarse_kernel_sizes:
        fast["coarse_kernel_sizes"] = args.coarse_kernel_sizes
    if args.window != "edges":
        fast["window"] = args.window
    if args.draws != 1:
        fast |= {"draws": args.draws, "choose": args.choose}
    if args.size:
        height, width = (int(v) for v in args.size.lower().split("x"))
        sources = [("astronaut", f"astronaut_{height}x{width}")]
    else:
        files = sorted(p for p in Path(args.sharp).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        sources = [(str(p), p.stem) for p in files[: args.images]]
        height, width = args.height, args.width
    out = []
    for source, stem in sources:
        for noise, seed, init in itertools.product(args.noise, args.kernel_seeds, args.init_seeds):
            problem = problem_name(stem, args.kernel_size, seed, noise)
            name = problem
            if args.tv_weight != "0":
                name += f"_tv{args.tv_weight}"
            if (args.max_kernel_size, args.crop, smoothness) != (17, 160, 0.002):
                we = smoothness if smoothness == "auto" else f"{smoothness:g}"
                name += f"_mk{args.max_kernel_size}_crop{args.crop}_we{we}"
            if args.coarse_kernel_sizes:
                name += "_c2f" + "-".join(str(k) for k in args.coarse_kernel_sizes)
            if args.window != "edges":
                name += f"_{args.window}"
            if args.draws != 1:
                name += f"_draws{args.draws}{args.choose}"
            if init != 0:
                name += f"_init{init}"
            out.append(
                {
                    "name": name,
                    "sharp": source,
                    "height": height,
                    "width": width,
                    "kernel_size": args.kernel_size,
                    "kernel_seed": seed,
                    "problem": problem,
                    "init_seed": init,
                    "noise": noise,
                    "steps": args.steps,
                    "fast": fast,
                    "tv_weight": args.tv_weight if args.tv_weight == "auto" else float(args.tv_weight),
                }
            )
    return out


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The cases of ``path``: JSON lines (blank lines skipped), or a JSON list such as the ``.json`` that ``--report``
    writes beside its table (committed with it, so the table can be made again from the repository alone)."""
    text = path.read_text()
    if text.lstrip().startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def done_names(path: Path) -> set[str]:
    return {line["name"] for line in read_lines(path)} if path.exists() else set()


def report(lines: list[dict[str, Any]], command: str) -> str:
    rows = [
        "| case | size | k | noise | reduced k | TV weight | seconds (deconvolution) | peak RSS (MB) | "
        "blurry PSNR / SSIM | fast mode | true kernel | gain (dB) | share of the true kernel's gain | "
        "kernel similarity |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in lines:
        gain = r["fast_mode"]["psnr"] - r["blurry"]["psnr"]
        available = r["true_kernel"]["psnr"] - r["blurry"]["psnr"]
        share = f"{100 * gain / available:.0f}%" if available > 0 else "–"
        sizes = (*r["fast"].get("coarse_kernel_sizes", []), r["fast"]["max_kernel_size"])
        stages = " then ".join(str(k) for k in sizes)
        rows.append(
            f"| {r['name']} | {r['width']}x{r['height']} | {r['kernel_size']} | {r['noise']:g} | "
            f"<= {stages} | "
            f"{r.get('tv_weight', 0)} | {r['seconds']:.0f} ({cell(r.get('deconvolution_seconds'), 0)}) | "
            f"{r['peak_rss_mb']} | {cell(r['blurry']['psnr'], 2)} / {cell(r['blurry']['ssim'], 4)} | "
            f"{cell(r['fast_mode']['psnr'], 2)} / {cell(r['fast_mode']['ssim'], 4)} | "
            f"{cell(r['true_kernel']['psnr'], 2)} / {cell(r['true_kernel']['ssim'], 4)} | {gain:+.2f} | {share} | "
            f"{r['kernel_similarity']:.3f} |"
        )
    with_kernels = [r["name"] for r in lines if "kernel" in r]
    if with_kernels:
        rows += [
            "",
            f"Kernels, true (left) and estimated (right), each scaled to its maximum, in `{KERNELS_PNG}` beside this "
            "file, one row per case that stored its kernel, from the top: " + ", ".join(with_kernels) + ".",
        ]
    codes = ", ".join(dict.fromkeys(str(r.get("code", "?")) for r in lines))
    header = [
        "# SelfDeblur's fast mode on photos with known truth",
        "",
        f"Generated by `{command}` from the JSON lines of `python -m benchmarks.selfdeblur_fast` (module docstring:",
        "how each case is made and scored). PSNR/SSIM on the Y channel with Levin's alignment.",
        "",
        f"{machines_text(lines)}; code of the rows (each row's in the JSON lines): {codes}.",
        "",
    ]
    return "\n".join(header + rows) + "\n\n" + NOTES_MARKER + "\n"


KERNELS_PNG = "selfdeblur_fast_kernels.png"


def kernel_montage(lines: list[dict[str, Any]], zoom: int = 4) -> torch.Tensor | None:
    """``(1, H, W)`` in [0, 1]: one row per line that stored its estimated ``"kernel"``, the true kernel
    (``random_motion_kernel(kernel_size, kernel_seed)``) beside the estimate, each divided by its maximum and
    zero-padded about its centre to the largest kernel, on a grey grid; ``None`` when no line has a kernel."""
    from deblur_core import motion_blur

    pairs = [
        (
            motion_blur.random_motion_kernel(r["kernel_size"], seed=r["kernel_seed"]),
            torch.tensor(r["kernel"]),
        )
        for r in lines
        if "kernel" in r
    ]
    if not pairs:
        return None
    side = max(k.shape[-1] for pair in pairs for k in pair)

    def tile(kernel: torch.Tensor) -> torch.Tensor:
        pad = (side - kernel.shape[-1]) // 2
        kernel = F.pad(kernel.double() / kernel.max(), (pad,) * 4)
        return F.pad(kernel, (2,) * 4, value=0.3)

    grid = torch.cat([torch.cat([tile(true), tile(estimate)], 1) for true, estimate in pairs], 0)
    return grid.repeat_interleave(zoom, 0).repeat_interleave(zoom, 1)[None].float()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.selfdeblur_fast", description=__doc__.split("\n")[0])
    parser.add_argument("--sharp", help="folder of sharp photos")
    parser.add_argument("--images", type=int, default=2, help="how many photos of --sharp (sorted by name)")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--size", help="HxW of a synthetic photo made from scikit-image's astronaut instead")
    parser.add_argument("--kernel-size", type=int, default=25)
    parser.add_argument("--kernel-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--init-seeds", type=int, nargs="+", default=[0], help="model.seed of the solve")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.01])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--max-kernel-size", type=int, default=11)
    parser.add_argument("--crop", type=int, default=160)
    parser.add_argument("--smoothness", default="0.002", help="model.fast.smoothness: a number or 'auto'")
    parser.add_argument("--coarse-kernel-sizes", type=int, nargs="*", default=[], help="model.fast.coarse_kernel_sizes")
    parser.add_argument("--window", default="edges", choices=["edges", "coherent_edges"], help="model.fast.window")
    parser.add_argument("--draws", type=int, default=1, help="model.fast.draws")
    parser.add_argument(
        "--choose", default="sparsity", choices=["consensus", "spread", "sparsity"], help="model.fast.choose"
    )
    parser.add_argument("--tv-weight", default="0", help="model.tv.weight of the estimation: a number or 'auto'")
    parser.add_argument("--out", help="JSON lines file (cases already in it are skipped)")
    parser.add_argument("--report", help="write a Markdown table of the --from files here")
    parser.add_argument("--from", dest="sources", nargs="+", default=[])
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --report")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a case as JSON: run it in this process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_case(json.loads(args.one))), flush=True)
        return
    if args.report:
        lines = [line for src in args.sources for line in read_lines(Path(src))]
        command = "python -m benchmarks.selfdeblur_fast " + " ".join(argv if argv is not None else sys.argv[1:])
        write_report(Path(args.report), report(lines, command), args.overwrite)
        # One case per line: the stored kernels would otherwise take a line per number.
        records = ",\n".join(json.dumps(line) for line in lines)
        Path(args.report).with_suffix(".json").write_text(f"[\n{records}\n]\n")
        montage = kernel_montage(lines)
        if montage is not None:
            from deblur_core.image_io import save_image

            save_image(Path(args.report).with_name(KERNELS_PNG), montage)
        return
    if not args.out or not (args.sharp or args.size):
        parser.error("give --out and --sharp or --size (or --report with --from)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    finished = done_names(out)
    for case in cases(args):
        if case["name"] in finished:
            continue
        run = subprocess.run(
            [sys.executable, "-m", "benchmarks.selfdeblur_fast", "--one", json.dumps(case)],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            print(json.dumps({"name": case["name"], "error": run.stderr.strip().splitlines()[-1:]}), flush=True)
            continue
        line = run.stdout.strip().splitlines()[-1]
        with out.open("a") as f:
            f.write(line + "\n")
        print(line, flush=True)


if __name__ == "__main__":
    main()
