"""The README's figures are drawn by ``docs/figures/make_readme_figures.py`` from what the notebooks write."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from deblur_core.image_io import read_image, save_image
from tests.helpers import REPO

SCRIPT = REPO / "docs" / "figures" / "make_readme_figures.py"


def test_figures_are_drawn_from_the_notebooks_results(tmp_path):
    levin = REPO / "data" / "levin"
    selfdeblur_results = tmp_path / "selfdeblur"
    save_image(selfdeblur_results / "blurry_deblurred.png", read_image(levin / "gt" / "im1.png"))
    np.save(selfdeblur_results / "blurry_kernel.npy", np.full((17, 17), 1 / 17**2, dtype=np.float32))
    reblur_results = tmp_path / "reblur"
    for name in ("blurry", "M_D", "adapted", "sharp"):
        save_image(reblur_results / f"{name}.png", torch.rand(3, 32, 32))
    torch.save(torch.full((9, 9), 1 / 81), reblur_results / "kernel.pt")
    out = tmp_path / "figures"
    args = ["--selfdeblur", str(selfdeblur_results), "--reblur", str(reblur_results), "--levin", str(levin)]
    done = subprocess.run([sys.executable, str(SCRIPT), *args, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("selfdeblur.png", "reblur.png"):
        with Image.open(out / name) as figure:
            assert figure.width > 1000 and figure.height > 250
