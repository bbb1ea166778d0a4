"""How CUDA computes float32 convolutions and matrix products: IEEE float32 or TF32 tensor cores.

PyTorch's defaults differ between the two: cuDNN convolutions may use TF32 (10-bit mantissa inputs) on
Ampere and newer GPUs, matrix products may not. SelfDeblur's G_x is almost all convolutions, so under
the defaults a "32-true" run on a recent GPU is in fact a TF32 run and differs from the same run on the
CPU or on an older GPU far more than rounding would make it. :func:`cuda_float32_precision` sets both
to one choice for the length of a ``with`` block and restores the previous settings after it:

* ``"ieee"``: float32 arithmetic everywhere (SelfDeblur's default: results that can be reproduced);
* ``"tf32"``: TF32 tensor cores for convolutions and matrix products (faster; float32 storage, about
  3 decimal digits per product).

The settings are the process's (``torch.backends``): they act on CUDA kernels only, so the CPU path is
the same whatever the choice. With torch >= 2.9 cuDNN's is set through its ``fp32_precision`` API, after
which torch refuses to read the legacy ``torch.backends.cudnn.allow_tf32`` flag; matrix products are set
with ``torch.set_float32_matmul_precision`` (``"highest"`` or ``"high"``).

Example::

    >>> import torch
    >>> from selfdeblur.cuda_precision import cuda_float32_precision
    >>> with cuda_float32_precision("ieee"):
    ...     torch.backends.cudnn.conv.fp32_precision, torch.get_float32_matmul_precision()
    ('ieee', 'highest')
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch

CHOICES = ("ieee", "tf32")
# torch >= 2.9 sets cuDNN's choice per operator (``fp32_precision``) and refuses to mix it with allow_tf32.
# (torch's type hints declare cudnn's flags but not its per-operator ``conv`` namespace, hence Any.)
_CUDNN_CONV: Any = getattr(torch.backends.cudnn, "conv", None)
_NEW_API = _CUDNN_CONV is not None and hasattr(_CUDNN_CONV, "fp32_precision")


def _get() -> tuple[str | bool, str]:
    conv = _CUDNN_CONV.fp32_precision if _NEW_API else torch.backends.cudnn.allow_tf32
    return conv, torch.get_float32_matmul_precision()


def _set(conv: str | bool, matmul: str) -> None:
    if _NEW_API:
        _CUDNN_CONV.fp32_precision = conv
    else:
        assert isinstance(conv, bool)  # the legacy flag: _get() and cuda_float32_precision() pass a bool
        torch.backends.cudnn.allow_tf32 = conv
    # The matmul side through the long-standing call: torch's getters (which Lightning reads) then agree.
    torch.set_float32_matmul_precision(matmul)


@contextmanager
def cuda_float32_precision(choice: Literal["ieee", "tf32"]) -> Iterator[None]:
    """Within the block, CUDA float32 convolutions and matrix products use ``choice`` (see the module)."""
    if choice not in CHOICES:
        raise ValueError(f"float32 precision must be one of {CHOICES}, got {choice!r}")
    before = _get()
    _set(choice if _NEW_API else choice == "tf32", "high" if choice == "tf32" else "highest")
    try:
        yield
    finally:
        _set(*before)
