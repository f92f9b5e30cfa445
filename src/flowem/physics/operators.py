"""The operator protocol of every inverse problem here, and the restoration degradations.

An :class:`Operator` (after deepinv's ``Physics``) is one object with
- ``forward(x)`` (also ``op(x)``): the noiseless measurement ``A x``, differentiable in torch;
- ``adjoint(y)`` where ``A`` is linear (:class:`LinearOperator`, exact: tested by
  ``<A x, y> = <x, A^T y>``);
- ``proximal(v, y, weight)``, ``argmin_x ||x - v||^2 + weight ||A x - y||^2``, where a closed
  form exists (else :class:`NotImplementedError`);
- ``data_gradient(x, y)``: the gradient of the least-squares data term (autograd by default; a
  linear operator uses its adjoint, preconditioned, see :meth:`LinearOperator.data_gradient`);
- ``noise``: the measurement's noise model (:mod:`flowem.physics.noise`), ``measure(x, g)``
  draws ``y = noise(A x)``.
The microscope (:class:`~flowem.physics.forward.MicroscopeForward`, phase -> counts, Poisson)
and the restoration degradations below follow it; samplers (:mod:`flowem.posterior`) accept any.
Operators know nothing of networks or samplers.

Restoration degradations, batched over images ``(B, C, H, W)``:
- ``Identity``: denoising.
- ``AreaDownsample(k)``: low-res pixel ``j`` is the mean of high-res pixels ``[j k, (j + 1) k)``.
  A size not divisible by ``k`` gives ``ceil(H / k)`` pixels; the last one averages only the
  pixels that exist (every high-res pixel is observed exactly once).
- ``Blur(psf)``: circular convolution (FFT), PSF centred at its middle pixel, normalised to sum 1;
  circular boundaries make the adjoint exact (correlation with the same PSF).
- ``Decimate(k, dim)``: keep samples ``0, k, 2k, ...`` along ``dim`` (``ceil(n / k)`` of them);
  the adjoint puts them back and zero-fills the rest. On 2D slices ``dim=-2`` (rows) is the
  in-plane proxy of axial super-resolution; on volumes ``dim`` is the z axis.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from flowem.physics.noise import NoiseModel


class Operator:
    """The protocol: ``forward``, ``data_gradient``, ``proximal`` (when closed-form), ``noise``.

    Subclasses implement :meth:`forward`; ``noise`` is ``None`` until set (:meth:`with_noise`).
    """

    name = "operator"
    noise: NoiseModel | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def with_noise(self, noise: NoiseModel) -> Operator:
        """Attach the measurement noise model; returns the operator."""
        self.noise = noise
        return self

    def measure(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A noisy measurement ``noise(A x)`` (no gradient)."""
        if self.noise is None:
            raise ValueError(f"operator {self.name!r} has no noise model")
        with torch.no_grad():
            return self.noise(self.forward(x), generator)

    def data_gradient(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gradient of ``0.5 || A x - y ||^2`` with respect to ``x`` (autograd)."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            loss = 0.5 * (self.forward(x) - y).pow(2).sum()
            (grad,) = torch.autograd.grad(loss, x)
        return grad

    def proximal(self, v: torch.Tensor, y: torch.Tensor, weight: float) -> torch.Tensor:
        """``argmin_x ||x - v||^2 + weight ||A x - y||^2``; closed-form operators override."""
        raise NotImplementedError(f"operator {self.name!r} has no closed-form proximal step")


class LinearOperator(Operator):
    """``forward`` (``A x``) and ``adjoint`` (``A^T y``) of a real linear map.

    The operators here have ``A A^T`` diagonal (identity, decimation, area downsampling) or are
    diagonal in Fourier space (circular blur), so their proximal step
    ``x = v - A^T (A A^T + I / weight)^-1 (A v - y)`` is exact and costs one ``A`` and one
    ``A^T``; ``weight = inf`` is the projection onto ``{A x = y}`` closest to ``v`` (noiseless
    data), ``weight = 0`` returns ``v``.
    """

    name = "linear"

    def adjoint(self, y: torch.Tensor, in_shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """``A^T y``; ``in_shape`` is the shape of ``x`` when ``A`` loses it (odd sizes)."""
        raise NotImplementedError

    def data_gradient(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``A^T W (A x - y)``: gradient of ``0.5 || y - A x ||_W^2`` with respect to ``x``.

        ``W = (A A^T)^-1`` where ``A A^T`` is diagonal (identity, decimation, area
        downsampling), so that a unit step makes ``A x = y`` and one step size ``lr`` means the
        same for every task; ``W = I`` for blur (``||A|| = 1``, ``A A^T`` not invertible).
        """
        return self.adjoint(self.forward(x) - y, tuple(x.shape))

    @staticmethod
    def _shrink(diagonal: torch.Tensor | float, weight: float) -> torch.Tensor | float:
        """``(d + 1 / weight)^-1 d``-type factor ``weight d / (weight d + 1)`` (1 at ``inf``)."""
        if math.isinf(weight):
            return 1.0
        return weight * diagonal / (weight * diagonal + 1.0)


class Identity(LinearOperator):
    """Denoising: ``A = I``."""

    name = "identity"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def adjoint(self, y: torch.Tensor, in_shape: tuple[int, ...] | None = None) -> torch.Tensor:
        return y

    def proximal(self, v: torch.Tensor, y: torch.Tensor, weight: float) -> torch.Tensor:
        return v - self._shrink(1.0, weight) * (v - y)


def _pad_to_multiple(x: torch.Tensor, factor: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % factor, 0, -h % factor))


class AreaDownsample(LinearOperator):
    """Super-resolution by ``factor``: block means; partial blocks at the border (see module)."""

    name = "area_downsample"

    def __init__(self, factor: int) -> None:
        if factor < 1:
            raise ValueError(f"downsampling factor must be >= 1, got {factor}")
        self.factor = int(factor)

    def _counts(self, shape: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
        """Number of existing high-res pixels in each low-res block, shape (ceil H/k, ceil W/k)."""
        k = self.factor
        rows = torch.clamp(shape[0] - k * torch.arange(math.ceil(shape[0] / k)), max=k)
        cols = torch.clamp(shape[1] - k * torch.arange(math.ceil(shape[1] / k)), max=k)
        return torch.outer(rows, cols).to(dtype=like.dtype, device=like.device)

    def data_gradient(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # A A^T = diag(1 / block size): W A^T spreads each residual over its block unscaled.
        k, (h, w) = self.factor, x.shape[-2:]
        residual = self.forward(x) - y
        return residual.repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1)[..., :h, :w]

    def proximal(self, v: torch.Tensor, y: torch.Tensor, weight: float) -> torch.Tensor:
        # A A^T = diag(1 / n) (n pixels per block): the correction is W A^T r shrunk per block.
        k, (h, w) = self.factor, v.shape[-2:]
        shrink = self._shrink(1.0 / self._counts((h, w), v), weight)
        residual = (self.forward(v) - y) * shrink
        return v - residual.repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1)[..., :h, :w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.factor
        sums = F.avg_pool2d(_pad_to_multiple(x, k).flatten(0, -3).unsqueeze(1), k) * (k * k)
        sums = sums.reshape(*x.shape[:-2], *sums.shape[-2:])
        return sums / self._counts(tuple(x.shape[-2:]), x)

    def adjoint(self, y: torch.Tensor, in_shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """``A^T y`` on the high-res grid of ``in_shape`` (default: ``k`` times ``y``'s size)."""
        k = self.factor
        shape = tuple(in_shape[-2:]) if in_shape else (y.shape[-2] * k, y.shape[-1] * k)
        up = (y / self._counts(shape, y)).repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1)
        return up[..., : shape[0], : shape[1]]


class Blur(LinearOperator):
    """Deblurring: circular convolution with a normalised, centred ``psf`` (odd side, numpy)."""

    name = "blur"

    def __init__(self, psf: np.ndarray) -> None:
        psf = np.asarray(psf, dtype=np.float64)
        if psf.ndim != 2 or psf.shape[0] % 2 == 0 or psf.shape[1] % 2 == 0:
            raise ValueError(f"the PSF must be a 2D array of odd side lengths, got {psf.shape}")
        self.psf = psf / psf.sum()
        self._otf: dict[tuple, torch.Tensor] = {}

    def transfer_function(self, shape: tuple[int, int]) -> np.ndarray:
        """Optical transfer function on an ``shape`` grid: the PSF's centre moved to (0, 0)."""
        ph, pw = self.psf.shape
        if ph > shape[0] or pw > shape[1]:
            raise ValueError(f"PSF {self.psf.shape} larger than the image {shape}")
        padded = np.zeros(shape)
        padded[:ph, :pw] = self.psf
        padded = np.roll(padded, (-(ph // 2), -(pw // 2)), axis=(0, 1))
        return np.fft.rfft2(padded)

    def _transfer(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape[-2:]), x.device, x.dtype)
        if key not in self._otf:
            complex_dtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
            otf = torch.from_numpy(self.transfer_function(key[0]))
            self._otf[key] = otf.to(device=x.device, dtype=complex_dtype)
        return self._otf[key]

    def _apply(self, x: torch.Tensor, conjugate: bool) -> torch.Tensor:
        otf = self._transfer(x)
        spectrum = torch.fft.rfft2(x) * (otf.conj() if conjugate else otf)
        return torch.fft.irfft2(spectrum, s=tuple(x.shape[-2:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(x, conjugate=False)

    def adjoint(self, y: torch.Tensor, in_shape: tuple[int, ...] | None = None) -> torch.Tensor:
        return self._apply(y, conjugate=True)

    def proximal(self, v: torch.Tensor, y: torch.Tensor, weight: float) -> torch.Tensor:
        """Fourier-diagonal: ``(V + weight H* Y) / (1 + weight |H|^2)``; an infinite weight is
        capped at ``1e6`` (the projection would divide by the transfer function's zeros)."""
        weight = min(weight, 1e6)
        otf = self._transfer(v)
        spectrum = torch.fft.rfft2(v) + weight * otf.conj() * torch.fft.rfft2(y)
        spectrum = spectrum / (1.0 + weight * otf.abs() ** 2)
        return torch.fft.irfft2(spectrum, s=tuple(v.shape[-2:]))


def gaussian_psf(sigma_px: float, radius_px: int | None = None) -> np.ndarray:
    """Normalised Gaussian PSF of standard deviation ``sigma_px``, side ``2 radius + 1``."""
    radius = int(radius_px if radius_px is not None else math.ceil(4 * sigma_px))
    r = np.arange(-radius, radius + 1)
    g = np.exp(-(r**2) / (2 * sigma_px**2))
    psf = np.outer(g, g)
    return psf / psf.sum()


def defocus_psf(radius_px: float, supersample: int = 8) -> np.ndarray:
    """Normalised uniform disc (geometric defocus) of ``radius_px``, anti-aliased (supersampled)."""
    half = math.ceil(radius_px)
    n = (2 * half + 1) * supersample
    c = (np.arange(n) + 0.5) / supersample - (half + 0.5)
    inside = (c[:, None] ** 2 + c[None, :] ** 2 <= radius_px**2).astype(np.float64)
    psf = inside.reshape(2 * half + 1, supersample, 2 * half + 1, supersample).mean(axis=(1, 3))
    return psf / psf.sum()


class Decimate(LinearOperator):
    """Keep every ``factor``-th sample along ``dim`` (z-decimation; see module docstring)."""

    name = "decimate"

    def __init__(self, factor: int, dim: int = -2) -> None:
        if factor < 1:
            raise ValueError(f"decimation factor must be >= 1, got {factor}")
        self.factor, self.dim = int(factor), int(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = torch.arange(0, x.shape[self.dim], self.factor, device=x.device)
        return x.index_select(self.dim, index)

    def adjoint(self, y: torch.Tensor, in_shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """Zero-filled ``A^T y``, ``in_shape[dim]`` samples along ``dim`` (default ``k`` n)."""
        length = in_shape[self.dim] if in_shape else y.shape[self.dim] * self.factor
        if math.ceil(length / self.factor) != y.shape[self.dim]:
            raise ValueError(
                f"{y.shape[self.dim]} samples do not decimate {length} by {self.factor}"
            )
        shape = list(y.shape)
        shape[self.dim] = length
        out = y.new_zeros(shape)
        index = torch.arange(0, length, self.factor, device=y.device)
        return out.index_copy(self.dim, index, y)

    def proximal(self, v: torch.Tensor, y: torch.Tensor, weight: float) -> torch.Tensor:
        residual = self._shrink(1.0, weight) * (self.forward(v) - y)  # A A^T = I
        return v - self.adjoint(residual, tuple(v.shape))
