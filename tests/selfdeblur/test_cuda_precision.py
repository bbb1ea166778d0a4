"""The CUDA float32 setting is set for a block and restored after it (the flags exist without a GPU)."""

from __future__ import annotations

import pytest
import torch

from selfdeblur.cuda_precision import cuda_float32_precision
from selfdeblur.lightning_module import SelfDeblur
from selfdeblur.options import Compute


def flags() -> tuple[str, str]:
    return torch.backends.cudnn.conv.fp32_precision, torch.get_float32_matmul_precision()


def test_choice_is_set_inside_and_previous_settings_come_back():
    before = flags()
    with cuda_float32_precision("ieee"):
        assert flags() == ("ieee", "highest")
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
        with cuda_float32_precision("tf32"):
            assert flags() == ("tf32", "high")
            assert torch.backends.cuda.matmul.fp32_precision == "tf32"
        assert flags() == ("ieee", "highest")
    assert flags() == before


def test_settings_come_back_after_an_error():
    before = flags()
    with pytest.raises(KeyError), cuda_float32_precision("tf32"):
        raise KeyError("boom")
    assert flags() == before


def test_unknown_choice_is_refused_by_name():
    with pytest.raises(ValueError, match="float32 precision"), cuda_float32_precision("bf16"):
        pass
    with pytest.raises(ValueError, match="model.compute.float32_precision"):
        SelfDeblur(compute=Compute(float32_precision="half"))
