"""SelfDeblur (Ren et al., CVPR 2020): blind deconvolution of one image with deep priors, in Lightning."""

from selfdeblur.api import deblur
from selfdeblur.data import BlurryImage, SelfDeblurDataModule, SyntheticBlur
from selfdeblur.module import SelfDeblur
from selfdeblur.result import DeblurResult

__all__ = ["BlurryImage", "DeblurResult", "SelfDeblur", "SelfDeblurDataModule", "SyntheticBlur", "deblur"]
