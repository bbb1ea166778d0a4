r"""Non-blind deconvolution with a sparse (hyper-Laplacian) derivative prior, solved by IRLS.

The method of Levin et al. (SIGGRAPH 2007, "Image and depth from a conventional camera with a coded
aperture"; their ``deconvSps.m``), which the SelfDeblur paper uses for SelfDeblur-Delta (its own kernel)
and for the known-kernel baseline of the error ratio. Given a blurry image :math:`y` (``H x W``) and a
kernel :math:`h` (``k x k``, convolution orientation), it estimates the latent image :math:`x` of size
``(H + k - 1) x (W + k - 1)``, the 'valid' model of :mod:`deblur_core.blur` (so image borders need no
assumption, as for real photos), by minimising

.. math::
    \|h * x - y\|^2 + w_e \sum_{d} \sum_i \rho_d\big((d \star x)_i\big)

over the derivative filters :math:`d \in \{\partial_x, \partial_y, \partial_{xx}, \partial_{yy},
\partial_{xy}\}`, with :math:`\rho_d(t) = c_d |t|^{0.8}` (:math:`c_d = 1` for first and 0.25 for second
derivatives). Iteratively reweighted least squares: a first solve with the quadratic prior (all weights 1),
then ``irls_steps`` solves with weights :math:`c_d\, w_0 \max(|d \star x|, \epsilon)^{0.8 - 2}` from the
previous estimate (:math:`w_0 = 0.1`, :math:`\epsilon = 0.01`, 2 reweightings as ``deconvSps.m``); each
solve runs conjugate gradients on the normal equations. The blur goes through FFTs, so large kernels
(Lai et al.'s reach 75x75) cost no more than small ones.

Images are ``(B, H, W)`` (or ``(H, W)``) in [0, 1] with kernels ``(B, k, k)`` (or ``(k, k)``), one
per image; all of a batch share one size. Computations run in float64 (or ``dtype``) on the inputs' device.

Example:
    >>> from deblur_core.blur import convolve_valid
    >>> sharp = torch.rand(40, 40, dtype=torch.float64)
    >>> kernel = torch.full((5, 5), 1 / 25, dtype=torch.float64)
    >>> blurry = convolve_valid(sharp[None, None], kernel)[0, 0]  # 36 x 36
    >>> deconvolve_sparse(blurry, kernel, cg_iterations=20).shape
    torch.Size([40, 40])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deblur_core.blur import correlate_valid_fft, to_correlation_filter

# Derivative filters (correlation orientation) and their weights c_d.
_DERIVATIVES: list[tuple[list[list[float]], float]] = [
    ([[1.0, -1.0]], 1.0),
    ([[1.0], [-1.0]], 1.0),
    ([[-1.0, 2.0, -1.0]], 0.25),
    ([[-1.0], [2.0], [-1.0]], 0.25),
    ([[-1.0, 1.0], [1.0, -1.0]], 0.25),
]


def _blur(x: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Per image 'valid' correlation: ``x`` ``(B, h, w)``, ``filters`` ``(B, k, k)`` -> ``(B, h-k+1, w-k+1)``."""
    return correlate_valid_fft(x[:, None], filters[:, None])[:, 0]


def _blur_adjoint(r: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`_blur`: the 'full' convolution of ``r`` with the correlation filter."""
    k = filters.shape[-1]
    padded = F.pad(r, (k - 1, k - 1, k - 1, k - 1))
    return _blur(padded, filters.flip(-2, -1))


def _derivative(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x[:, None], d[None, None])[:, 0]


def _derivative_adjoint(r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return F.conv_transpose2d(r[:, None], d[None, None])[:, 0]


def _conjugate_gradients(apply, b: torch.Tensor, x: torch.Tensor, iterations: int) -> torch.Tensor:
    """Solve ``apply(x) = b`` (symmetric positive definite) per image of the batch, from ``x``."""

    def dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u * v).sum(dim=(1, 2), keepdim=True)

    tiny = torch.finfo(b.dtype).tiny
    r = b - apply(x)
    p = r.clone()
    rho = dot(r, r)
    for _ in range(iterations):
        ap = apply(p)
        denominator = dot(p, ap)
        alpha = torch.where(denominator > 0, rho / denominator.clamp_min(tiny), torch.zeros_like(rho))
        x = x + alpha * p
        r = r - alpha * ap
        rho_next = dot(r, r)
        beta = torch.where(rho > 0, rho_next / rho.clamp_min(tiny), torch.zeros_like(rho))
        p = r + beta * p
        rho = rho_next
    return x


def deconvolve_sparse(
    blurry: torch.Tensor,
    kernel: torch.Tensor,
    smoothness: float = 0.001,
    exponent: float = 0.8,
    irls_steps: int = 2,
    cg_iterations: int = 200,
    weight_scale: float = 0.1,
    threshold: float = 0.01,
    data_weight: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Hyper-Laplacian non-blind deconvolution (see the module docstring).

    Args:
        blurry: ``(B, H, W)`` or ``(H, W)`` in [0, 1].
        kernel: ``(B, k, k)`` or ``(k, k)``, convolution orientation (MATLAB ``conv2``; as saved
            kernels and Levin's data), non-negative; it is normalised to sum 1.
        smoothness: prior weight :math:`w_e` (``deconvSps.m``'s ``we``; Levin et al.'s demo uses
            0.001 to 0.004).
        exponent: :math:`\\alpha` of :math:`|t|^\\alpha`.
        irls_steps: reweighted solves after the quadratic one.
        cg_iterations: conjugate-gradient iterations per solve (``max_it``).
        weight_scale, threshold: :math:`w_0` and :math:`\\epsilon` of the IRLS weights.
        data_weight: per-pixel weights of the data term, the shape of ``blurry`` (``None``: all 1): the data
            term becomes :math:`\\sum_i m_i ((h * x)_i - y_i)^2`; 0 leaves a pixel out (a saturated pixel, which
            the blur model does not explain), and the prior fills in the latent pixels only it saw.
        dtype: of the computation (float32 halves time and memory on large photos).

    Returns:
        The latent image, ``(B, H + k - 1, W + k - 1)`` (or 2-D), in ``dtype``; crop the centre ``H x W``
        to compare with the blurry image's view.
    """
    single = blurry.dim() == 2
    y = (blurry[None] if single else blurry).to(dtype)
    h = (kernel[None] if kernel.dim() == 2 else kernel).to(dtype)
    if y.dim() != 3 or h.dim() != 3 or h.shape[-1] != h.shape[-2] or h.shape[0] not in (1, y.shape[0]):
        raise ValueError(
            f"blurry (B, H, W) and kernels (B, k, k) expected, got {tuple(blurry.shape)} and {tuple(kernel.shape)}"
        )
    if not torch.isfinite(y).all() or not torch.isfinite(h).all():
        raise ValueError("deconvolve_sparse: the blurry image or the kernel contains NaN or infinity")
    total = h.sum(dim=(1, 2), keepdim=True)
    if (total <= 0).any():
        raise ValueError("deconvolve_sparse: a kernel sums to zero or less")
    filters = to_correlation_filter(h / total).expand(y.shape[0], -1, -1).contiguous()
    k = filters.shape[-1]
    pad = (k - 1) // 2, k - 1 - (k - 1) // 2
    x = F.pad(y[:, None], (pad[0], pad[1], pad[0], pad[1]), mode="replicate")[:, 0]
    derivatives = [(torch.tensor(d, dtype=y.dtype, device=y.device), c) for d, c in _DERIVATIVES]
    m = None
    if data_weight is not None:
        m = (data_weight[None] if single else data_weight).to(y)
        if m.shape != y.shape:
            raise ValueError(
                f"data_weight must have the shape of blurry {tuple(blurry.shape)}, got {tuple(data_weight.shape)}"
            )
    b = _blur_adjoint(y if m is None else m * y, filters)

    def solve(x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
        def apply(v: torch.Tensor) -> torch.Tensor:
            blurred = _blur(v, filters)
            out = _blur_adjoint(blurred if m is None else m * blurred, filters)
            for (d, _), w in zip(derivatives, weights):
                out = out + smoothness * _derivative_adjoint(w * _derivative(v, d), d)
            return out

        return _conjugate_gradients(apply, b, x, cg_iterations)

    x = solve(x, [torch.ones((), dtype=y.dtype, device=y.device)] * len(derivatives))
    for _ in range(irls_steps):
        weights = [
            c * weight_scale * _derivative(x, d).abs().clamp_min(threshold) ** (exponent - 2) for d, c in derivatives
        ]
        x = solve(x, weights)
    return x[0] if single else x
