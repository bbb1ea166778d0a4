"""One image SelfDeblur solves (:class:`BlurryImage`), and the synthetic example (:class:`SyntheticBlur`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from deblur_core import motion_blur
from deblur_core.crop import center_crop
from deblur_core.image_io import read_image
from deblur_core.sample_images import load_skimage
from selfdeblur.kernel_io import read_kernel


@dataclass
class BlurryImage:
    """One problem to solve.

    ``blurry``, ``sharp`` and ``true_kernel`` are either file paths (read on demand) or tensors:
    images ``(C, H, W)`` in [0, 1] (C = 1 or 3), kernels ``(k, k)`` in convolution orientation
    summing to 1. ``sharp`` and ``true_kernel`` are known only for benchmarks and synthetic data.
    """

    name: str
    kernel_size: int
    blurry: Path | torch.Tensor
    sharp: Path | torch.Tensor | None = None
    true_kernel: Path | torch.Tensor | None = None
    kernel_size_origin: str = "default"
    description: str = ""
    size: tuple[int, int] | None = None  # (H, W), known once the DataModule has validated the image
    true_kernel_rotated: bool = False  # the ground-truth kernel file had to be rotated by 180 degrees
    # PSNR against the truth: "rgb", "y" or "gray" (deblur_core.color.to_luma); None: every channel when the
    # images agree in channels, else the studio-range Y of the colour ones (MATLAB's rgb2ycbcr).
    score_color: str | None = None

    @property
    def source(self) -> str:
        """The file, or a description of an in-memory image."""
        return str(self.blurry) if isinstance(self.blurry, Path) else (self.description or f"<{self.name}>")

    def load(self) -> torch.Tensor:
        return self.blurry if isinstance(self.blurry, torch.Tensor) else read_image(self.blurry)

    def load_sharp(self) -> torch.Tensor | None:
        return self.sharp if not isinstance(self.sharp, Path) else read_image(self.sharp)

    def load_true_kernel(self) -> torch.Tensor | None:
        return self.true_kernel if not isinstance(self.true_kernel, Path) else read_kernel(self.true_kernel)


def scikit_image(name: str = "camera", size: int = 128, scale: float = 0.5) -> torch.Tensor:
    """A scikit-image sample image (``skimage.data.<name>``), rescaled by ``scale`` (area averaging)
    and centre-cropped to ``size x size``; ``(C, size, size)`` in [0, 1]."""
    image = load_skimage(name)
    if scale != 1:
        image = F.interpolate(image.unsqueeze(0), scale_factor=scale, mode="area")[0]
    if min(image.shape[-2:]) < size:
        raise ValueError(f"skimage.data.{name} is {tuple(image.shape[-2:])} after scaling, smaller than {size}")
    return center_crop(image, size, size).contiguous()


@dataclass
class SyntheticBlur:
    """A blurry image made from a scikit-image sample with a seeded random motion kernel.

    The sharp crop is ``(size + kernel_size - 1)`` pixels wide; its 'valid' convolution with the
    kernel (plus noise) is the ``size x size`` blurry image, and its centre ``size x size`` is the
    ground truth.
    """

    image: str = "camera"
    size: int = 128
    scale: float = 0.5
    kernel_size: int = 13
    kernel_seed: int = 0
    noise_sigma: float = 0.0

    def make(self) -> BlurryImage:
        k = self.kernel_size
        sharp_full = scikit_image(self.image, self.size + k - 1, self.scale)
        kernel = motion_blur.random_motion_kernel(k, seed=self.kernel_seed)
        blurry = motion_blur.blur(sharp_full, kernel, self.noise_sigma, seed=self.kernel_seed)
        truth = center_crop(sharp_full, self.size, self.size)
        name = f"{self.image}_k{k}_seed{self.kernel_seed}"
        description = (
            f"synthetic: skimage.data.{self.image} x{self.scale}, motion kernel {k}x{k} seed {self.kernel_seed}, "
            f"noise {self.noise_sigma}"
        )
        return BlurryImage(name, k, blurry, truth.contiguous(), kernel, "synthetic", description)
