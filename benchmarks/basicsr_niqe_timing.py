"""Times BasicSR's NumPy NIQE (``basicsr.metrics.niqe.calculate_niqe``) on one 8-bit image.

A standalone script for :mod:`benchmarks.niqe_speed` ``--reference-python``, run by path in another
interpreter (one that has ``basicsr``, ``cv2`` and ``numpy``); it imports nothing from this project. ``-I``
(isolated mode) keeps this file's folder off ``sys.path``, so its neighbours cannot shadow that interpreter's
modules::

    /path/to/basicsr-env/bin/python -I benchmarks/basicsr_niqe_timing.py frame.png [--repeats 3] [--batch 8]

The image is read as BasicSR's own tools read it, ``cv2.imread`` (BGR, uint8, HWC), and scored with
``calculate_niqe(img, crop_border=0, input_order='HWC', convert_to='y')``. Reading is not timed; the
reported times are the median of ``repeats`` runs after one warm-up: for one call, and for ``batch``
calls in a loop (BasicSR scores one image per call). Prints one JSON object on the last line of
stdout: ``basicsr_version``, ``numpy_version``, ``cv2_version``, ``value`` (the NIQE score),
``seconds_one_image`` and ``seconds_batch``, ``batch`` and ``repeats``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def _median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("image", help="8-bit image file (read with cv2.imread, BGR)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)

    import warnings

    with warnings.catch_warnings():  # basicsr's import chain warns about deprecated torchvision APIs
        warnings.simplefilter("ignore")
        import basicsr
        import cv2
        import numpy as np
        from basicsr.metrics.niqe import calculate_niqe

    img = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {args.image}")

    def one() -> float:
        return float(calculate_niqe(img, 0, input_order="HWC", convert_to="y"))

    def batch() -> None:
        for _ in range(args.batch):
            one()

    result = {
        "basicsr_version": basicsr.__version__,
        "numpy_version": np.__version__,
        "cv2_version": cv2.__version__,
        "value": one(),
        "seconds_one_image": _median_seconds(one, args.repeats),
        "seconds_batch": _median_seconds(batch, args.repeats),
        "batch": args.batch,
        "repeats": args.repeats,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
