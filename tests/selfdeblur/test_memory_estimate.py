"""Memory known before work starts (selfdeblur.memory_estimate, SelfDeblur.check_memory)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from selfdeblur.cli import main
from selfdeblur.memory_estimate import DECONVOLUTION_MAPS, FIXED, activation_bytes_per_pixel, estimate_peak_bytes
from selfdeblur.options import FastMode, Generators
from tests.helpers import REPO, command_error
from tests.helpers import SELFDEBLUR_TINY as TINY

# One image solved for one step in a fresh process: its estimate (baseline = its resident memory just before the
# fit) and its measured peak resident memory.
MEASURE = """
import json, sys, torch
from deblur_core.process_memory import peak_resident_bytes, resident_bytes
from selfdeblur.api import solver_trainer
from selfdeblur.data import BlurryImage, ImagesInMemory
from selfdeblur.lightning_module import SelfDeblur
from selfdeblur.options import FastMode, Optimization

height, width, k, fast = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "fast"
image = BlurryImage("probe", k, torch.rand(3, height, width, generator=torch.Generator().manual_seed(0)))
image.size = (height, width)

model = SelfDeblur(Optimization(steps=1, milestones=()), fast=FastMode(enabled=fast, cg_iterations=5))
estimate = model.estimate_memory(image, baseline=resident_bytes())
solver_trainer("cpu").fit(model, datamodule=ImagesInMemory([image]))
peak = peak_resident_bytes()
print(json.dumps({"estimate": estimate.total, "peak": peak, "baseline": estimate.baseline}))
"""


def measure(height: int, width: int, kernel_size: int, mode: str) -> dict[str, int]:
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(height), str(width), str(kernel_size), mode],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak resident memory as Linux reports it")
@pytest.mark.parametrize(
    ("height", "width", "kernel_size", "mode"),
    [(224, 224, 17, "paper"), (320, 400, 17, "paper"), (720, 1280, 31, "fast")],
)
def test_the_estimate_is_within_a_quarter_of_the_measured_peak(height, width, kernel_size, mode):
    measured = measure(height, width, kernel_size, mode)
    assert measured["estimate"] == pytest.approx(measured["peak"], rel=0.25), measured


def test_the_estimate_grows_with_the_pixels_g_x_generates():
    per_pixel = activation_bytes_per_pixel(Generators())
    # The paper's default G_x keeps several kB per pixel (five scales of 128 channels, skips, non-local blocks).
    assert 2_000 < per_pixel < 50_000
    small = estimate_peak_bytes(255, 255, 17, per_pixel, FastMode(), baseline=0)
    large = estimate_peak_bytes(510, 510, 17, per_pixel, FastMode(), baseline=0)
    assert small.pixels == 271 * 271 and large.pixels == 526 * 526
    # What grows is proportional to the pixels.
    grows = (large.problem - FIXED) / (small.problem - FIXED)
    assert grows == pytest.approx(526**2 / 271**2, rel=1e-5)
    # The fast mode's problem is its window: the same for a 4000x3000 photo as for a 1280x720 one.
    fast = FastMode(enabled=True)
    photo = estimate_peak_bytes(720, 1280, 31, per_pixel, fast, baseline=0)
    huge = estimate_peak_bytes(3000, 4000, 51, per_pixel, fast, baseline=0)
    assert photo.pixels == huge.pixels == (160 + 10) ** 2
    # Its deconvolution holds one tile of float32 maps per channel and the photo.
    margin = 2 * 51
    assert huge.deconvolution == DECONVOLUTION_MAPS * 4 * 3 * (1024 + 2 * margin) ** 2 + 4 * 3 * 3 * 3000 * 4000


def test_an_image_that_would_not_fit_is_refused_before_any_work_with_the_option_that_fits(tmp_path, capsys):
    from deblur_core.image_io import read_image, save_image

    photo = tmp_path / "photo.png"
    save_image(photo, read_image(REPO / "data" / "levin" / "im1_kernel1_img.png"))
    base = ["fit", "--config", TINY, "--data.synthetic", "null", "--data.images", str(photo)]
    base += ["--data.kernel_size", "17", "--model.compute.memory_limit_gb", "0.001", "--output.dir", str(tmp_path)]
    line = command_error(capsys, main, [*base, "--trainer.logger", "false"], status=1)
    assert line.startswith(f"selfdeblur: error: '{photo}' needs about ")
    assert "(paper's mode: " in line and "more than the 0.0 GiB model.compute.memory_limit_gb = 0.001" in line
    assert line.endswith("try --model.fast.enabled true (estimate the kernel on a reduced problem)")
    assert not list(tmp_path.glob("*_deblurred.png"))
