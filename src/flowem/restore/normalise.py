"""Intensity normalisation of one EM image: its grey levels to the prior's units, and back.

Two methods (``restore.normalise``, ``em_patches.normalise``):

- ``fixed`` (the default, today's scale): the dtype's full range to [-1, 1], ``x / 127.5 - 1``
  for uint8 (``(x - c) / h`` with ``c``, ``h`` the centre and half-width of an integer dtype's
  range; floats are taken as already in data units). It ignores the image's contrast: an image
  with a third of ISBI's contrast reaches the prior at a third of the amplitude it learned.
- ``robust``: the image's median to :data:`REFERENCE_CENTRE` and its robust spread
  (1.4826 x the median absolute deviation, the standard deviation for Gaussian grey levels) to
  :data:`REFERENCE_SPREAD`. The statistics are over the whole image, not a mask: the median
  and the MAD have a 50 % breakdown point, so padding, resin, saturated or blank areas covering
  less than half the image do not move them, where a mean and standard deviation or a min-max
  range would (and a 1-99 % percentile range is set by the rarest, darkest membrane pixels,
  the very structures being restored).

The spread is that of the image low-passed by a Gaussian of :data:`LOWPASS_PX` prior pixels
(8 nm at 4 nm/px): a measurement is the clean image blurred, area-downsampled or noisy, which
changes its full-band spread (on ISBI's 32 px crops ``y`` / clean: denoising 1.16, SR x4 0.73,
deblurring 0.54) but hardly its low-passed one (1.01, 1.00, 0.76). ``pixel_factor`` is the
measurement's pixel in prior pixels (SR: K), so the low-pass is the same in nm. The noise left
after the low-pass, ``sigma ||w||`` (``w`` the filter), is taken out of the variance:
``s = sqrt(s_y^2 - sigma^2 ||w||^2)`` (at least ``MIN_SIGNAL`` s_y). The noise std in
normalised units is ``|gain| sigma`` (:meth:`Normalisation.normalised_std`). The reference is
ISBI 2012's own statistics on the fixed scale (median 0.00, low-passed robust spread 0.29 over
the volume), so on ISBI ``robust`` is close to ``fixed`` and a prior trained either way sees
the same amplitudes. Every statistic is equivariant (an image ``a x + b``, ``a > 0``, with
noise ``a sigma``, gets the same normalised image), so a restoration in normalised units,
inverted, commutes with any positive scaling and offset of the input.

Polarity (``polarity: auto | dark | bright``): TEM shows membranes dark (ISBI); many SEM
images show them bright. ``bright`` images are inverted (sign -1) so the prior sees TEM-like
contrast, and inverted back after restoration. ``auto`` decides from thin structures:
``log(mean black top-hat / mean white top-hat)`` of the lightly smoothed image in a 7 px window
(:func:`membrane_polarity`), positive where thin dark structures dominate. Measured on the
mirror's EM sets: +0.06 to +0.22 for ISBI, FIB-25, CDeep3M, EPFL hippocampus, the platelets and
the noisy SEM image (all dark-membrane), -0.17 to -0.47 for every AxonDeepSeg SEM image
(bright myelin). It needs images of more than a few windows (say >= 64 px).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from flowem.errors import ConfigError, InputFileError

NORMALISE = ("fixed", "robust")
POLARITY = ("auto", "dark", "bright")
REFERENCE_CENTRE = 0.0  # ISBI 2012's median on the fixed scale, rounded (0.012)
REFERENCE_SPREAD = 0.29  # ISBI 2012's low-passed robust spread on the fixed scale (0.294)
LOWPASS_PX = 2.0  # Gaussian sigma of the spread's low-pass, in prior pixels
MAD_TO_STD = 1.4826  # MAD x this = std for Gaussian data
MIN_SIGNAL = 0.2  # noise-corrected spread >= this fraction of the measured one
TOPHAT_WINDOW = 7  # px: thin membranes of ISBI (4 nm px) and of 5-10 nm px SEM fit in it
TOPHAT_SMOOTH = 1.0  # px Gaussian before the top-hats: pixel noise is not structure


@dataclass(frozen=True)
class Normalisation:
    """One image's map to normalised units ``u = target_centre + gain (x - centre)``,
    ``gain = sign target_spread / spread``, and its statistics (grey levels of the image)."""

    method: str
    centre: float  # grey levels: the median (robust) or the dtype range's centre (fixed)
    spread: float  # grey levels: the noise-corrected robust spread, or the half-range
    sign: int  # +1 as it is, -1 inverted (bright membranes)
    polarity: str  # the image's: "dark" or "bright" membranes
    polarity_chosen: str  # "given" or "auto"
    polarity_score: float | None  # auto: log(black / white top-hat); None when given
    dtype: str
    noise_std: float  # grey levels, the noise std the spread was corrected for
    target_centre: float
    target_spread: float

    @property
    def gain(self) -> float:
        return self.sign * self.target_spread / self.spread

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Normalised float32 image (uint8 on the fixed scale: exactly ``x / 127.5 - 1``)."""
        if self.method == "fixed":  # float32 throughout: today's arithmetic, bit for bit
            x, f32 = np.asarray(image, dtype=np.float32), np.float32
            scaled = x / f32(self.spread) - f32(self.centre / self.spread)
            return scaled * f32(self.sign * self.target_spread) + f32(self.target_centre)
        # float64 first: a large offset against a small spread would cancel in float32
        x = np.asarray(image, dtype=np.float64)
        return (self.target_centre + self.gain * (x - self.centre)).astype(np.float32)

    def invert(self, normalised: np.ndarray) -> np.ndarray:
        """Grey levels (float64) of a normalised image: the inverse of :meth:`apply`."""
        u = np.asarray(normalised, dtype=np.float64)
        return (u - self.target_centre) / self.gain + self.centre

    def normalised_std(self, sigma: float) -> float:
        """A noise std of ``sigma`` grey levels in normalised units."""
        return abs(self.gain) * float(sigma)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def robust_spread(image: np.ndarray) -> float:
    """1.4826 x the median absolute deviation (the standard deviation where that is 0)."""
    x = np.asarray(image, dtype=np.float64)
    mad = float(np.median(np.abs(x - np.median(x))))
    return MAD_TO_STD * mad if mad > 0 else float(x.std())


def lowpass(image: np.ndarray, pixel_factor: float | tuple[float, float] = 1.0) -> np.ndarray:
    """``image`` (float64) smoothed by a Gaussian of :data:`LOWPASS_PX` prior pixels, its own
    pixels being ``pixel_factor`` prior pixels (per axis or both)."""
    factor = np.broadcast_to(np.asarray(pixel_factor, dtype=np.float64), (2,))
    return ndimage.gaussian_filter(np.asarray(image, dtype=np.float64), tuple(LOWPASS_PX / factor))


def lowpass_gain(pixel_factor: float | tuple[float, float] = 1.0) -> float:
    """``||w||``: the std of white unit noise after :func:`lowpass` (the filter's L2 norm)."""
    size = int(8 * np.ceil(LOWPASS_PX)) + 1
    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0
    return float(np.sqrt((lowpass(delta, pixel_factor) ** 2).sum()))


def membrane_polarity(image: np.ndarray) -> float:
    """``log(mean black top-hat / mean white top-hat)``: > 0 thin dark structures (TEM-like
    membranes), < 0 thin bright ones. Unchanged by ``a x + b`` for ``a > 0``; negated by ``-x``."""
    smooth = ndimage.gaussian_filter(np.asarray(image, dtype=np.float64), TOPHAT_SMOOTH)
    size = (TOPHAT_WINDOW, TOPHAT_WINDOW)
    black = ndimage.grey_closing(smooth, size=size) - smooth
    white = smooth - ndimage.grey_opening(smooth, size=size)
    tiny = 1e-12 * (float(np.abs(smooth).max()) + 1.0)
    return float(np.log((black.mean() + tiny) / (white.mean() + tiny)))


def fixed_range(dtype: np.dtype) -> tuple[float, float]:
    """Centre and half-width of a dtype's range on the fixed scale (floats: 0 and 1)."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return (float(info.max) + float(info.min)) / 2.0, (float(info.max) - float(info.min)) / 2.0
    if np.issubdtype(dtype, np.bool_):
        return 0.5, 0.5
    return 0.0, 1.0


def fit_normalisation(
    image: np.ndarray,
    method: str = "fixed",
    polarity: str = "dark",
    noise_std: float = 0.0,
    source: str = "image",
    dtype: np.dtype | None = None,
    pixel_factor: float | tuple[float, float] = 1.0,
) -> Normalisation:
    """The normalisation of ``image`` (2D, grey levels of any dtype) by ``method``, with the
    membrane ``polarity`` given or found (``auto``); ``noise_std`` (grey levels) corrects the
    robust spread of a noisy measurement, ``pixel_factor`` is its pixel in prior pixels.
    ``dtype`` is the image's stored type where ``image`` is a resampled float copy (the fixed
    scale's range); ``source`` names the image in errors."""
    if method not in NORMALISE:
        raise ConfigError(f"normalise must be one of {', '.join(NORMALISE)}, got {method!r}")
    if polarity not in POLARITY:
        raise ConfigError(f"polarity must be one of {', '.join(POLARITY)}, got {polarity!r}")
    image = np.asarray(image)
    dtype = np.dtype(image.dtype if dtype is None else dtype)
    if image.size == 0 or not np.isfinite(image).all():
        raise InputFileError(source, "the image is empty or holds NaN/Inf values")
    score = membrane_polarity(image) if polarity == "auto" else None
    found = polarity if score is None else ("dark" if score >= 0 else "bright")
    sign = 1 if found == "dark" else -1
    if method == "fixed":
        centre, spread = fixed_range(dtype)
        target = (0.0, 1.0)
    else:
        if not float(image.max()) > float(image.min()):
            raise InputFileError(source, "all pixels are equal: no contrast to normalise by")
        centre = float(np.median(image.astype(np.float64)))
        measured = robust_spread(lowpass(image, pixel_factor))
        left = float(noise_std) * lowpass_gain(pixel_factor)
        clean = np.sqrt(max(measured**2 - left**2, 0.0))
        spread = max(clean, MIN_SIGNAL * measured)
        target = (REFERENCE_CENTRE, REFERENCE_SPREAD)
    return Normalisation(
        method=method,
        centre=float(centre),
        spread=float(spread),
        sign=sign,
        polarity=found,
        polarity_chosen="given" if score is None else "auto",
        polarity_score=score,
        dtype=str(dtype),
        noise_std=float(noise_std),
        target_centre=target[0],
        target_spread=target[1],
    )


def is_identity(method: str, polarity: str, dtype: np.dtype) -> bool:
    """Whether the normalisation of a ``dtype`` image is the identity (fixed scale, float data,
    no inversion): the restoration then runs on the data as it is."""
    return method == "fixed" and polarity == "dark" and fixed_range(dtype) == (0.0, 1.0)
