r"""Test-time adaptation of :math:`M_D` with the self-reblurring loss (Nah et al., "Clean Images are Hard to Reblur").

* :mod:`reblur.adaptation.algorithm`: :func:`adapt`, one adaptation on one batch, usable on its own;
* :mod:`reblur.adaptation.adapted_net`: :class:`AdaptedDeblurNet`, the stand-in for ``pl_module.deblur_net``
  while a batch is evaluated;
* :mod:`reblur.adaptation.callback`: :class:`TestTimeAdaptation`, the Lightning callback for ``reblur test`` /
  ``reblur predict``;
* :mod:`reblur.adaptation.records`: per-image records, their means over processes and their CSV files.
"""

from reblur.adaptation.adapted_net import AdaptedDeblurNet
from reblur.adaptation.algorithm import PARAMETER_SETS, Adaptation, adapt, adapted_parameters
from reblur.adaptation.callback import TestTimeAdaptation

__all__ = ["PARAMETER_SETS", "Adaptation", "AdaptedDeblurNet", "TestTimeAdaptation", "adapt", "adapted_parameters"]
