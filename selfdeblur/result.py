"""The outcome of solving one image, and how it is written to disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deblur_core.image_io import save_image
from selfdeblur.kernel_io import save_kernel


def is_failure(status: str) -> bool:
    """Whether a result's ``status`` (also as the summary table records it) says the image failed."""
    return status.startswith("failed")


@dataclass
class DeblurResult:
    """A solved image.

    Attributes:
        name: the image's name (relative path without suffix).
        image: latent sharp image, ``(C, H, W)`` in [0, 1], the size of the blurry input; colour
            inputs get their estimated luminance recombined with the input's chroma.
        kernel: estimated blur kernel, ``(k, k)``, **convolution** orientation, summing to 1.
        steps: optimisation steps taken.
        final_loss: loss of the last step.
        seconds: wall-clock time of the optimisation (of the whole group when solved together).
        group_size: number of images optimised together with this one (itself included).
        status: ``"ok"``; ``"collapsed: ..."`` (finite, but a one-pixel kernel and a saturated image: likely
            wrong); ``"failed: ..."`` (the loss became NaN or infinite: nothing is written but the summary row).
        note: what else the run reports about the image (which draw was kept, with ``model.fast.draws``).
    """

    name: str
    image: torch.Tensor
    kernel: torch.Tensor
    steps: int
    final_loss: float
    seconds: float
    group_size: int = 1
    status: str = "ok"
    note: str = ""

    @property
    def failed(self) -> bool:
        return is_failure(self.status)

    @staticmethod
    def paths(directory: str | Path, name: str) -> dict[str, Path]:
        """Where :meth:`save` writes the files of image ``name`` under ``directory``."""
        base = Path(directory) / name
        return {
            "image": base.with_name(base.name + "_deblurred.png"),
            "kernel_png": base.with_name(base.name + "_kernel.png"),
            "kernel_npy": base.with_name(base.name + "_kernel.npy"),
        }

    def save(self, directory: str | Path) -> dict[str, Path]:
        """Write the deblurred PNG and the kernel (viewable PNG scaled to max 255, raw .npy)."""
        paths = self.paths(directory, self.name)
        save_kernel(paths["kernel_png"], paths["kernel_npy"], self.kernel)
        save_image(paths["image"], self.image)
        return paths
