"""The forward model against a direct double loop and SciPy, and the flip convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

from deblur_core.blur import (
    FFT_FROM_KERNEL_SIZE,
    ValidBlur,
    convolve_valid,
    correlate_valid,
    correlation_method,
    fast_fft_size,
    to_convolution_kernel,
    to_correlation_filter,
)


def test_correlation_equals_double_loop():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 9, 11, generator=g, dtype=torch.float64)
    f = torch.rand(3, 5, generator=g, dtype=torch.float64)
    out = correlate_valid(x, f)[0, 0]
    assert out.shape == (7, 7)
    expected = torch.zeros(7, 7, dtype=torch.float64)
    for i in range(7):
        for j in range(7):
            for a in range(3):
                for b in range(5):
                    expected[i, j] += f[a, b] * x[0, 0, i + a, j + b]
    torch.testing.assert_close(out, expected)


def test_convolution_equals_scipy_valid_convolution():
    rng = np.random.default_rng(1)
    x = rng.random((20, 17))
    h = rng.random((5, 5))
    ours = convolve_valid(torch.from_numpy(x)[None, None], torch.from_numpy(h))[0, 0].numpy()
    np.testing.assert_allclose(ours, convolve2d(x, h, mode="valid"), rtol=1e-12, atol=1e-12)


def test_flip_convention():
    f = torch.arange(9.0).reshape(3, 3)
    h = to_convolution_kernel(f)
    assert torch.equal(h, torch.tensor([[8.0, 7, 6], [5, 4, 3], [2, 1, 0]]))
    assert torch.equal(to_correlation_filter(h), f)
    x = torch.rand(2, 3, 10, 12)
    torch.testing.assert_close(correlate_valid(x, f), convolve_valid(x, h))
    # An impulse in the middle of a (2k-1)^2 image, blurred, shows the convolution kernel itself.
    impulse = torch.zeros(1, 1, 5, 5)
    impulse[..., 2, 2] = 1
    torch.testing.assert_close(convolve_valid(impulse, h)[0, 0], h)
    torch.testing.assert_close(ValidBlur()(impulse, f)[0, 0], h)


def test_channels_are_blurred_independently():
    x = torch.rand(2, 3, 8, 8)
    f = torch.rand(3, 3)
    out = correlate_valid(x, f)
    for c in range(3):
        torch.testing.assert_close(out[:, c : c + 1], correlate_valid(x[:, c : c + 1], f))


@pytest.mark.parametrize(
    "shape, kernel", [((2, 3, 20, 17), (5, 5)), ((1, 1, 31, 26), (9, 4)), ((1, 1, 12, 12), (11, 11))]
)
def test_fft_correlation_equals_the_direct_one(shape, kernel):
    """Values and gradients (float64) of the FFT path equal the convolution layer's, for odd, even and
    rectangular filters and a filter almost as large as the image."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    filt = torch.rand(kernel, dtype=torch.float64, generator=generator, requires_grad=True)
    weights = torch.rand(*shape[:2], shape[2] - kernel[0] + 1, shape[3] - kernel[1] + 1, dtype=torch.float64)
    results = {}
    for method in ("direct", "fft"):
        out = correlate_valid(image, filt, method)
        grads = torch.autograd.grad((out * weights).sum(), (image, filt))
        results[method] = (out, *grads)
    for direct, fft in zip(results["direct"], results["fft"]):
        torch.testing.assert_close(fft, direct, rtol=0, atol=1e-12)


def test_fft_sizes_and_method_choice():
    assert [fast_fft_size(n) for n in (1, 7, 11, 271, 329, 1310)] == [1, 8, 12, 288, 360, 1350]
    assert correlation_method("auto", FFT_FROM_KERNEL_SIZE) == "fft"
    assert correlation_method("auto", FFT_FROM_KERNEL_SIZE - 2) == "direct"
    with pytest.raises(ValueError, match="method must be"):
        correlation_method("spectral", 9)
