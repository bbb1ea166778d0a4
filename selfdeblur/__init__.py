"""SelfDeblur (Ren et al., CVPR 2020): blind deconvolution of one image with deep priors, in Lightning."""

from selfdeblur.api import deblur
from selfdeblur.data import BlurryImage, SelfDeblurDataModule, SyntheticBlur
from selfdeblur.lightning_module import SelfDeblur
from selfdeblur.options import Compute, Generators, Optimization, TotalVariation
from selfdeblur.result import DeblurResult

__all__ = [
    "BlurryImage",
    "Compute",
    "DeblurResult",
    "Generators",
    "Optimization",
    "SelfDeblur",
    "SelfDeblurDataModule",
    "SyntheticBlur",
    "TotalVariation",
    "deblur",
]
