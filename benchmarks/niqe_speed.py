"""Speed of the torch NIQE (:mod:`reblur.metrics.niqe`) on a 1280x720 image and on a batch of 8.

Usage::

    python -m benchmarks.niqe_speed [--device cpu|cuda] [--repeats 3] [--height 720] [--width 1280]
                                    [--reference-python /path/to/basicsr-env/bin/python]

Prints one JSON object: median seconds (after one warm-up) for one colour image and for a batch of 8,
the per-image time in the batch, and ``niqe_value``, our score of the frame. The input is
scikit-image's ``astronaut`` resized to ``height`` x ``width`` (1280x720 by default; a natural image,
NIQE's cost does not depend on content) and quantised to 8 bits, as a PNG stores it.

``--reference-python`` names an interpreter that has BasicSR (``basicsr`` or ``basicsr-fixed``, with
``cv2`` and ``numpy``); it must not be this environment, which should stay free of BasicSR's
requirements. The frame is then written to a temporary PNG and
:mod:`benchmarks.basicsr_niqe_timing` is run by path in that interpreter: it times BasicSR's NumPy
``calculate_niqe`` (one image per call, so the batch is 8 calls in a loop) on the same 8-bit pixels.
The output gains ``reference`` (BasicSR's version, value and seconds), ``speedup_one_image`` and
``speedup_batch_of_8`` (BasicSR's seconds / ours, above 1 when ours is faster) and
``value_difference`` (ours - BasicSR's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import synchronize
from reblur.metrics.niqe import niqe

BATCH = 8
TIMING_SCRIPT = Path(__file__).with_name("basicsr_niqe_timing.py")


def natural_frame(height: int = 720, width: int = 1280) -> torch.Tensor:
    """``(1, 3, height, width)`` in [0, 1]: scikit-image's astronaut, bicubic-resized (not quantised)."""
    from skimage import data

    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float().div(255)[None]
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)


def to_uint8(frame: torch.Tensor) -> torch.Tensor:
    """``(1, 3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8 RGB, rounded to the nearest level."""
    return frame[0].mul(255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().cpu()


def seconds(images: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        synchronize(images.device)
        start = time.perf_counter()
        niqe(images)
        synchronize(images.device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def reference_timing(python: str, pixels: torch.Tensor, repeats: int, timeout: float | None = None) -> dict:
    """Runs :mod:`benchmarks.basicsr_niqe_timing` in interpreter ``python`` on ``pixels`` ((H, W, 3) uint8 RGB).

    Returns the JSON object the script prints on its last line of stdout; raises ``RuntimeError`` with
    the script's stderr if it fails.
    """
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="niqe_benchmark_") as tmp:
        png = Path(tmp) / "frame.png"
        Image.fromarray(pixels.numpy()).save(png)
        command = [python, "-I", str(TIMING_SCRIPT), str(png), "--repeats", str(repeats), "--batch", str(BATCH)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.strip()}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{' '.join(command)} printed nothing:\n{done.stderr.strip()}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument(
        "--reference-python",
        metavar="PATH",
        help="interpreter with basicsr installed: also time BasicSR's NumPy NIQE on the same frame",
    )
    args = parser.parse_args(argv)
    pixels = to_uint8(natural_frame(args.height, args.width))
    frame = pixels.permute(2, 0, 1)[None].double().div(255).to(args.device)
    one = seconds(frame, args.repeats)
    batch = seconds(frame.expand(BATCH, -1, -1, -1).contiguous(), args.repeats)
    value = niqe(frame).item()
    result = {
        "benchmark": f"NIQE (torch, float64), {args.width}x{args.height} colour",
        "device": args.device,
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "repeats": args.repeats,
        "seconds_one_image": round(one, 4),
        "seconds_batch_of_8": round(batch, 4),
        "seconds_per_image_in_batch": round(batch / BATCH, 4),
        "niqe_value": round(value, 6),
    }
    if args.reference_python:
        ref = reference_timing(args.reference_python, pixels, args.repeats)
        result["reference"] = {
            "implementation": "basicsr.metrics.niqe.calculate_niqe (NumPy, one image per call), crop_border=0, Y",
            "basicsr": ref["basicsr_version"],
            "numpy": ref.get("numpy_version"),
            "value": round(ref["value"], 6),
            "seconds_one_image": round(ref["seconds_one_image"], 4),
            "seconds_batch_of_8": round(ref["seconds_batch"], 4),
        }
        result["value_difference"] = round(value - ref["value"], 6)
        result["speedup_one_image"] = round(ref["seconds_one_image"] / one, 2)
        result["speedup_batch_of_8"] = round(ref["seconds_batch"] / batch, 2)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
