"""Speed of the torch NIQE (:mod:`reblur.metrics.niqe`) on a 1280x720 image and on a batch of 8.

Usage::

    python -m reblur.niqe_benchmark [--device cpu|cuda] [--repeats 3]

Prints one JSON object: median seconds for one 1280x720 colour image and for a batch of 8, and the
per-image time in the batch. The input is scikit-image's ``astronaut`` resized to 1280x720 (a
natural image; NIQE's cost does not depend on content).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from reblur.metrics.niqe import niqe


def natural_frame(height: int = 720, width: int = 1280) -> torch.Tensor:
    from skimage import data

    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float().div(255)[None]
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)


def seconds(images: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        if images.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        niqe(images)
        if images.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    frame = natural_frame().to(args.device)
    one = seconds(frame, args.repeats)
    batch = seconds(frame.expand(8, -1, -1, -1).contiguous(), args.repeats)
    result = {
        "benchmark": "NIQE (torch, float64), 1280x720 colour",
        "device": args.device,
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "repeats": args.repeats,
        "seconds_one_image": round(one, 4),
        "seconds_batch_of_8": round(batch, 4),
        "seconds_per_image_in_batch": round(batch / 8, 4),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
