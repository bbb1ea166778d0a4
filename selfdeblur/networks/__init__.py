"""SelfDeblur's generators: G_x (:mod:`~selfdeblur.networks.image_generator`, with the non-local block of
:mod:`~selfdeblur.networks.non_local`) and G_k (:mod:`~selfdeblur.networks.kernel_generator`)."""

from selfdeblur.networks.image_generator import SkipGenerator
from selfdeblur.networks.kernel_generator import DIPKernelGenerator, FCKernelGenerator, build_kernel_generator
from selfdeblur.networks.non_local import NonLocalBlock

__all__ = ["DIPKernelGenerator", "FCKernelGenerator", "NonLocalBlock", "SkipGenerator", "build_kernel_generator"]
