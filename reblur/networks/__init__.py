"""Network architectures for training deblurring networks with the reblurring losses (Nah et al., ICLR 2022).

Deblurring networks G (all :class:`StridePaddedNet`: any input size, padded internally to a
multiple of their ``stride`` and cropped back):

* :class:`UNet`: a small U-Net baseline (Ronneberger et al., MICCAI 2015), stride 8;
* :class:`SRN`: the scale-recurrent network of Tao et al., CVPR 2018, stride 16;
* :class:`DHN`: a DMPHN(1-2-4)-style hierarchical multi-patch network (Zhang et al., CVPR 2019), stride 8.

The reblurring module M_R of Nah et al. is :class:`ReblurringModule`.

Every network maps ``(N, C, H, W)`` float images, nominally in ``[0, 1]``, to images of the same
shape, predicted as the input plus a residual by default, and does not clamp its output: losses
see the raw prediction. Constructor arguments are plain ints, sequences of ints, bools and
strings, so that the networks can be built from YAML (``class_path: reblur.networks.UNet``).

:mod:`reblur.networks.blocks` holds the pieces they share (:class:`ResBlock`).
"""

from reblur.networks.blocks import ResBlock
from reblur.networks.dhn import DHN
from reblur.networks.padding import StridePaddedNet, crop_to_size, pad_to_multiple
from reblur.networks.reblurring_module import ReblurringModule
from reblur.networks.srn import SRN, ConvLSTMCell
from reblur.networks.unet import UNet

__all__ = [
    "DHN",
    "SRN",
    "ConvLSTMCell",
    "ReblurringModule",
    "ResBlock",
    "StridePaddedNet",
    "UNet",
    "crop_to_size",
    "pad_to_multiple",
]
