"""Whether a run's bfloat16 arithmetic is emulated: ``bf16`` precision on a CPU without bf16 instructions.

torch's CPU kernels compute bfloat16 convolutions with oneDNN, which has fast bf16 code only for CPUs with
AVX512-BF16 or AMX (Intel Cooper Lake and newer, AMD Zen 4 and newer). On other CPUs (an AVX2 Zen 3, for
instance) the same precision runs, gives bfloat16 results, and is several times slower than float32
(docs/performance.md, "bf16 without bf16 instructions"), so the commands say so before the run starts.

Example::

    >>> from deblur_core.cpu_bf16 import emulated_bf16_message
    >>> emulated_bf16_message("bf16-mixed", on_cpu=True, cpu_has_bf16=False)[:40]
    '--trainer.precision bf16-mixed on a CPU '
    >>> emulated_bf16_message("32-true", on_cpu=True, cpu_has_bf16=False) is None
    True
"""

from __future__ import annotations

from typing import Any


def cpu_has_bf16() -> bool:
    """Whether this CPU has the instructions oneDNN's fast bfloat16 kernels need (AVX512-BF16 or AMX)."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def emulated_bf16_message(precision: str, on_cpu: bool, cpu_has_bf16: bool) -> str | None:
    """The warning for a run in ``precision`` (Lightning's name, e.g. ``"bf16-mixed"``), or None if none is due."""
    if not (on_cpu and str(precision).startswith("bf16") and not cpu_has_bf16):
        return None
    return (
        f"--trainer.precision {precision} on a CPU without bf16 instructions (AVX512-BF16 or AMX): torch emulates "
        "bfloat16 here, several times slower than --trainer.precision 32-true"
    )


def warn_if_bf16_is_emulated(trainer: Any) -> None:
    """Warn (a UserWarning, on rank 0) if ``trainer`` computes in bf16 on a CPU without bf16 instructions."""
    from pytorch_lightning.accelerators import CPUAccelerator
    from pytorch_lightning.utilities import rank_zero_warn

    on_cpu = isinstance(trainer.accelerator, CPUAccelerator)
    message = emulated_bf16_message(trainer.precision, on_cpu, on_cpu and cpu_has_bf16())
    if message is not None:
        rank_zero_warn(message, category=UserWarning)
