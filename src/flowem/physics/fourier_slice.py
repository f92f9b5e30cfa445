"""Fast batched projections by the Fourier-slice theorem.

The potential is zero-padded and Fourier transformed once. The 2D transform of the projection
along z of the rotated potential ``V(R^T r)`` is the central slice ``V_hat(R^T k)``,
``k = (kx, ky, 0)``. Slices are interpolated from the 3D grid with a B-spline kernel of order
2 or 3 (27 or 64 taps) after the matching gridding correction (the volume is divided by the
kernel's real-space transform ``sinc^(order+1)``), band-limited to the Nyquist disc and inverse
transformed: ``V_z = h * irfft2(slice of the unnormalised 3D DFT)`` in V A.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy import fft as sp_fft
from scipy.spatial.transform import Rotation

from flowem.physics.atoms import ScatteringAtoms
from flowem.physics.potential import potential_volume, volume_size_for
from flowem.physics.solvent import excess_potential_volume

#: interpolation taps handled per chunk (B * points * taps), ~16 MB of int64 indices
_CHUNK_TAPS = 2_000_000

#: rows / columns added around the spectrum table so every tap index is in range
_MARGIN = 2


def _fast_even(n: int) -> int:
    n = sp_fft.next_fast_len(n, real=True)
    while n % 2:
        n = sp_fft.next_fast_len(n + 1, real=True)
    return n


def gridding_apodisation(size: int, padded_size: int, order: int) -> np.ndarray:
    """1D real-space attenuation ``sinc^(order+1)(x / N)`` caused by B-spline interpolation of
    order ``order`` in Fourier space (``x`` from the volume centre, ``N`` the padded size)."""
    return np.sinc((np.arange(size) - size // 2) / padded_size) ** (order + 1)


def bspline_weights(t: torch.Tensor, order: int) -> torch.Tensor:
    """Tap weights ``(..., order + 1)`` of the B-spline kernel.

    Order 3: taps ``floor(q) - 1 .. floor(q) + 2`` with ``t = q - floor(q)`` in [0, 1).
    Order 2: taps ``round(q) - 1 .. round(q) + 1`` with ``t = q - round(q)`` in [-1/2, 1/2].
    """
    if order == 3:
        t2, t3, s = t * t, t * t * t, 1.0 - t
        cols = [s**3 / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6]
    elif order == 2:
        cols = [(0.5 - t) ** 2 / 2, 0.75 - t * t, (0.5 + t) ** 2 / 2]
    else:
        raise ValueError(f"interpolation order must be 2 or 3, got {order}")
    return torch.stack(cols, dim=-1)


class FourierSliceProjector:
    """Projects one potential along many orientations.

    Args:
        volume_v: ``(n, n, n)`` potential (V) ordered ``(z, y, x)``, origin at voxel ``n // 2``.
        voxel_size_a: voxel size (A); also the output pixel size.
        output_size: side of the square projections (pixels), even.
        pad_factor: zero-padding of the volume before its FFT (2 keeps errors ~0.1 %).
        order: B-spline interpolation order, 3 (accurate) or 2 (faster).
        device: torch device of the spectrum and the slices.
        workers: CPU threads for :meth:`project` (default: torch's intra-op thread count).
    """

    def __init__(
        self,
        volume_v: np.ndarray,
        voxel_size_a: float,
        output_size: int,
        pad_factor: float = 2.0,
        order: int = 3,
        device: str | torch.device = "cpu",
        workers: int | None = None,
    ) -> None:
        n = volume_v.shape[0]
        if volume_v.shape != (n, n, n) or n % 2:
            raise ValueError(f"volume must be an even-sided cube, got {volume_v.shape}")
        if output_size % 2:
            raise ValueError(f"output size must be even, got {output_size}")
        if order not in (2, 3):
            raise ValueError(f"interpolation order must be 2 or 3, got {order}")
        self.voxel_size_a = float(voxel_size_a)
        self.output_size = int(output_size)
        self.order = order
        self.device = torch.device(device)
        self.workers = torch.get_num_threads() if workers is None else max(1, int(workers))
        self.padded_size = _fast_even(math.ceil(pad_factor * n))
        self._table, self._table_shape = self._spectrum_table(volume_v)
        self._offsets = self._tap_offsets()
        self._points, self._flat_index, self._centring = self._slice_points()

    @classmethod
    def from_atoms(
        cls,
        atoms: ScatteringAtoms,
        pixel_size_a: float,
        output_size: int,
        pad_factor: float = 2.0,
        order: int = 3,
        device: str | torch.device = "cpu",
        workers: int | None = None,
        ice_potential_v: float = 0.0,
    ) -> FourierSliceProjector:
        """Build the potential of ``atoms`` (smallest cube holding them) and its projector;
        ``ice_potential_v`` > 0 (V): the excess potential over the ice the atoms displace."""
        size = volume_size_for(atoms, pixel_size_a)
        if ice_potential_v:
            volume = excess_potential_volume(atoms, pixel_size_a, size, ice_potential_v)
        else:
            volume = potential_volume(atoms, pixel_size_a, size)
        return cls(volume, pixel_size_a, output_size, pad_factor, order, device, workers)

    @property
    def memory_bytes(self) -> int:
        """Size of the interpolation table (bytes)."""
        return self._table.numel() * self._table.element_size()

    def _spectrum_table(self, volume_v: np.ndarray) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """Flat complex table of the half spectrum: z, y centred (fftshift) and wrapped by
        ``_MARGIN`` (+1 above), x extended on both sides by Hermitian symmetry."""
        n, big = volume_v.shape[0], self.padded_size
        apod = gridding_apodisation(n, big, self.order)
        padded = np.zeros((big, big, big), dtype=np.float32)
        padded[:n, :n, :n] = volume_v / np.einsum("i,j,k->ijk", apod, apod, apod)
        # origin (voxel n // 2) to index 0, so the DFT carries no linear phase
        padded = np.roll(padded, (-(n // 2),) * 3, axis=(0, 1, 2))
        half = torch.fft.rfftn(torch.from_numpy(padded))
        del padded
        neg = torch.remainder(-torch.arange(big), big)
        mirrored = half[neg][:, neg].conj()  # F(-z, -y, x) conj = F(z, y, -x)
        left = mirrored[..., 1 : _MARGIN + 1].flip(-1)
        right = mirrored[..., big // 2 - _MARGIN : big // 2].flip(-1)
        table = torch.cat([left, half, right], dim=-1)
        del half, mirrored
        table = torch.roll(table, (big // 2, big // 2), dims=(0, 1))  # k = 0 at index N/2
        wrap = list(range(big - _MARGIN, big)) + list(range(big)) + list(range(_MARGIN + 1))
        wrap_t = torch.as_tensor(wrap)
        table = table[wrap_t][:, wrap_t].contiguous()
        return table.reshape(-1).to(self.device), tuple(table.shape)

    @property
    def _table64(self) -> torch.Tensor:
        return self._table.view(torch.float64)

    def _tap_offsets(self) -> torch.Tensor:
        """Flat-index offsets of the ``(order + 1)^3`` taps from the first tap."""
        _, ny, nx = self._table_shape
        taps = torch.arange(self.order + 1)
        offsets = (taps[:, None, None] * ny + taps[None, :, None]) * nx + taps[None, None, :]
        return offsets.reshape(-1).to(self.device)

    def _slice_points(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frequencies (3D-grid index units) of the rfft2 bins inside the Nyquist disc."""
        m = self.output_size
        ky = np.fft.fftfreq(m, 1.0 / m)
        kx = np.arange(m // 2 + 1)
        kyy, kxx = np.meshgrid(ky, kx, indexing="ij")
        inside = kyy**2 + kxx**2 <= (m / 2) ** 2
        points = np.stack([kxx[inside], kyy[inside]], axis=1) * (self.padded_size / m)
        flat = np.flatnonzero(inside.ravel())
        # (-1)^(kx + ky) moves the origin from pixel 0 to pixel m // 2
        centring = np.where((kxx[inside] + kyy[inside]) % 2 == 0, 1.0, -1.0)
        to = {"device": self.device}
        return (
            torch.as_tensor(points, dtype=torch.float32, **to),
            torch.as_tensor(flat, **to),
            torch.as_tensor(centring, dtype=torch.float32, **to),
        )

    def project(self, rotations: Rotation) -> torch.Tensor:
        """Projected potentials ``(B, m, m)`` float32 in V A (rows y, columns x) on the device.

        Projection ``b`` is ``int V(R_b^T r) dz``: the model rotated by ``R_b``, seen along z.
        Work is done in chunks whose temporaries stay below ~16 MB (reused heap memory rather
        than fresh, page-faulting mappings). On the CPU the chunks run on ``workers`` Python
        threads with one torch thread each (torch ops release the GIL): unlike torch's own
        intra-op threads this does not collapse when the cores are shared with other jobs.
        """
        mats = rotations.as_matrix().reshape(-1, 3, 3)
        mats = torch.as_tensor(mats[:, :2, :], dtype=torch.float32, device=self.device)
        m = self.output_size
        out = torch.empty(len(mats), m, m, dtype=torch.float32, device=self.device)
        chunk = max(1, _CHUNK_TAPS // (len(self._points) * len(self._offsets)))
        starts = range(0, len(mats), chunk)

        def run(lo: int) -> None:
            out[lo : lo + chunk] = self._project_chunk(mats[lo : lo + chunk])

        workers = min(self.workers, len(starts))
        if self.device.type != "cpu" or workers <= 1:
            for lo in starts:
                run(lo)
            return out
        # one torch thread per worker (OpenMP's thread count is a per-thread setting)
        with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            list(pool.map(run, starts))
        return out

    def _project_chunk(self, mats: torch.Tensor) -> torch.Tensor:
        # q = R^T k = kx R[0, :] + ky R[1, :], components (qx, qy, qz)
        q = torch.einsum("pi,bij->bpj", self._points, mats)
        values = self._interpolate(q) * self._centring
        m = self.output_size
        spectrum = torch.zeros(len(mats), m * (m // 2 + 1), dtype=torch.complex64, device=q.device)
        spectrum[:, self._flat_index] = values
        spectrum = spectrum.reshape(len(mats), m, m // 2 + 1)
        return torch.fft.irfft2(spectrum, s=(m, m)) * self.voxel_size_a

    def _interpolate(self, q: torch.Tensor) -> torch.Tensor:
        """B-spline interpolation of the spectrum at ``q`` (B, P, 3) in grid units (qx, qy, qz)."""
        flip = q[..., 0] < 0
        sign = torch.where(flip, -1.0, 1.0)
        # table coordinates: x from the left margin, y and z from the centred, wrapped origin
        centre = _MARGIN + self.padded_size // 2
        shift = torch.tensor([_MARGIN, centre, centre], dtype=q.dtype, device=q.device)
        coords = q * sign[..., None] + shift
        nearest = torch.floor(coords) if self.order == 3 else torch.round(coords)
        weights = bspline_weights(coords - nearest, self.order)  # (B, P, 3 axes, taps)
        first = nearest.to(torch.int64) - 1
        _, ny, nx = self._table_shape
        start = (first[..., 2] * ny + first[..., 1]) * nx + first[..., 0]
        index = (start[..., None] + self._offsets).reshape(-1)
        # gather complex64 values through a float64 view: the fast path of index_select
        taps = self._table64.index_select(0, index).view(torch.float32)
        taps = taps.reshape(*q.shape[:-1], -1, 2)
        wz, wy, wx = weights[..., 2, :], weights[..., 1, :], weights[..., 0, :]
        kernel = (wz[..., :, None, None] * wy[..., None, :, None] * wx[..., None, None, :]).flatten(
            -3
        )
        values = torch.einsum("bpt,bptc->bpc", kernel, taps)
        values[..., 1] *= sign
        return torch.view_as_complex(values)
