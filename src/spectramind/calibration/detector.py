"""Pixel-level detector steps (stcal style): pure functions on arrays, inputs never mutated.

Shapes: raw reads ``(n_reads, ny, nx)`` with even index = start read, odd = end read;
maps ``(ny, nx)``; ``mask`` is bool, True = bad pixel; ``dq`` the uint32 data-quality bits of
:mod:`spectramind.calibration.dq`. Every function returns new arrays.
"""

from __future__ import annotations

import numpy as np

from spectramind.calibration import dq

#: decode conventions for the disputed ADC offset sign
ADC_SIGNS = {"add": 1.0, "subtract": -1.0}


def adc_decode(raw: np.ndarray, gain: float, offset: float, *, sign: str = "add") -> np.ndarray:
    """Decode uint16 ADU to counts: ``raw / gain + offset`` (``sign="subtract"``: ``- offset``).

    raw: (n, ny, nx) uint16 -> float32 counts.
    """
    if sign not in ADC_SIGNS:
        raise ValueError(f"ADC offset sign must be one of {sorted(ADC_SIGNS)}, got {sign!r}")
    out = raw.astype(np.float32)
    out *= np.float32(1.0 / gain)
    out += np.float32(ADC_SIGNS[sign] * offset)
    return out


def saturation_mask(raw: np.ndarray) -> np.ndarray:
    """Reads at the ends of the ADC range (0 or 65535 ADU) are flagged. (n, ny, nx) bool."""
    return (raw == 0) | (raw == np.iinfo(np.uint16).max)


def hot_pixel_mask(dark: np.ndarray, sigma: float) -> np.ndarray:
    """Pixels whose dark current is a ``sigma``-clipped outlier (upper side only).

    Iterated to convergence: clip the values above median + sigma * std (ddof 0) of the
    values not yet clipped; non-finite values are clipped from the start. The same mask as
    ``astropy.stats.sigma_clip(dark, sigma_lower=inf, sigma_upper=sigma, maxiters=None)``
    (a test compares them), without importing astropy (~1 s) in every calibration job.
    dark: (ny, nx) counts/s -> (ny, nx) bool.
    """
    x = np.asarray(dark, dtype=np.float64)
    clipped = ~np.isfinite(x)
    while not clipped.all():
        kept = x[~clipped]
        new = clipped | (x > np.median(kept) + sigma * kept.std())
        if np.array_equal(new, clipped):
            break
        clipped = new
    return clipped


def bad_flat_mask(flat: np.ndarray, *, minimum: float) -> np.ndarray:
    """Flat pixels that must not be divided through: non-finite or below ``minimum``."""
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(flat) | (flat < minimum)


def pixel_dq(
    dead: np.ndarray, dark: np.ndarray, flat: np.ndarray, *, hot_sigma: float, flat_minimum: float
) -> np.ndarray:
    """Static data-quality bits (ny, nx) uint32: ``dq.DEAD | dq.HOT | dq.BAD_FLAT``."""
    return dq.static_dq(
        dead.astype(bool),
        hot_pixel_mask(dark, hot_sigma),
        bad_flat_mask(flat, minimum=flat_minimum),
    )


def pixel_mask(
    dead: np.ndarray, dark: np.ndarray, flat: np.ndarray, *, hot_sigma: float, flat_minimum: float
) -> np.ndarray:
    """Static bad-pixel mask (ny, nx) bool: dead | hot | bad flat (:func:`pixel_dq` != 0)."""
    return pixel_dq(dead, dark, flat, hot_sigma=hot_sigma, flat_minimum=flat_minimum) != 0


def saturation_dq(raw: np.ndarray) -> np.ndarray:
    """``dq.SATURATED`` where :func:`saturation_mask`, else 0: (n, ny, nx) uint32."""
    return np.where(saturation_mask(raw), dq.SATURATED, 0).astype(dq.DTYPE)


def linearity_correct(x: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """Linearised counts ``sum_k c_k x^k`` (Horner), coeffs (6, ny, nx) lowest power first.

    x: (n, ny, nx) float -> same shape and dtype.
    """
    c = coeffs.astype(x.dtype, copy=False)
    out = np.broadcast_to(c[-1], x.shape).copy()
    for ck in c[-2::-1]:
        out *= x
        out += ck
    return out


def dark_subtract(x: np.ndarray, dark: np.ndarray, dt: tuple[float, float]) -> np.ndarray:
    """Subtract ``dark * dt`` with dt[0] for start reads (even index) and dt[1] for end reads."""
    out = x.copy()
    out[0::2] -= (dark * dt[0]).astype(x.dtype)
    out[1::2] -= (dark * dt[1]).astype(x.dtype)
    return out


def flat_field(x: np.ndarray, flat: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Divide by the flat; ``bad`` flat pixels are divided by 1 (and stay flagged)."""
    safe = np.where(bad, 1.0, flat).astype(x.dtype)
    return x / safe


def cds(x: np.ndarray) -> np.ndarray:
    """Correlated double sampling: end read minus start read. (2n, ny, nx) -> (n, ny, nx)."""
    if x.shape[0] % 2:
        raise ValueError(f"CDS needs start/end read pairs, got {x.shape[0]} reads")
    return x[1::2] - x[0::2]


def cds_variance(
    signal: np.ndarray, read: np.ndarray, flat: np.ndarray, bad_flat: np.ndarray
) -> np.ndarray:
    """Variance of a flat-fielded CDS frame: (max(signal, 0) * flat + 2 read^2) / flat^2.

    signal: (n, ny, nx) flat-fielded CDS counts; read: read noise per read (ny, nx).
    """
    f = np.where(bad_flat, 1.0, flat).astype(signal.dtype)
    return (np.maximum(signal, 0) * f + 2.0 * read.astype(signal.dtype) ** 2) / f**2


def median3_residual(
    x: np.ndarray, prev: np.ndarray | None = None, nxt: np.ndarray | None = None
) -> np.ndarray:
    """x_t - median(x_{t-1}, x_t, x_{t+1}) along axis 0; ``prev``/``nxt`` are the frames just
    outside this chunk (None at the series ends: the edge frame uses its one neighbour)."""
    before = np.concatenate([x[:1] if prev is None else prev[None], x[:-1]])
    after = np.concatenate([x[1:], x[-1:] if nxt is None else nxt[None]])
    med = np.maximum(np.minimum(before, x), np.minimum(np.maximum(before, x), after))
    return x - med


#: median of the NONZERO |x_t - median3_t| for white Gaussian noise of unit std: the
#: residual is exactly 0 whenever x_t is itself the median (probability 1/3), so the
#: nonzero part has median s with P(|r| > s) = 2 int phi(y) Phi(y - s)^2 dy = 1/3
#: (numerical quadrature: s = 0.68982)
MEDIAN3_NONZERO_MEDIAN = 0.68982


def temporal_scatter(x: np.ndarray) -> np.ndarray:
    """Robust per-pixel frame-to-frame scatter from the median of the nonzero |median-of-3
    residuals|, scaled to estimate the standard deviation of white noise.

    x: (n, ny, nx) -> (ny, nx). Captures jitter-driven pixel variance that the photon +
    read noise model does not (an undersampled PSF moving by 0.1 px changes a core pixel
    by several percent), so cosmic-ray flagging does not flag jitter. Zero residuals
    (x_t between its neighbours) are left out: for jitter correlated over a few frames
    they are the majority, and a plain median of |residual| would then be 0 exactly
    where the jitter is largest. A pixel without any nonzero residual gets 0.
    """
    r = median3_residual(x)[1:-1] if x.shape[0] > 2 else median3_residual(x)
    a = np.sort(np.abs(r), axis=0)  # zeros first (NaN last)
    n = a.shape[0]
    n_zero = (a == 0).sum(axis=0)
    k = n - n_zero
    lo = np.minimum(n_zero + np.maximum(k - 1, 0) // 2, n - 1)[None]
    hi = np.minimum(n_zero + k // 2, n - 1)[None]
    med = 0.5 * (np.take_along_axis(a, lo, axis=0)[0] + np.take_along_axis(a, hi, axis=0)[0])
    return np.where(k > 0, med / MEDIAN3_NONZERO_MEDIAN, 0).astype(a.dtype)


def flag_cosmic_rays(
    x: np.ndarray,
    var: np.ndarray,
    sigma: float,
    *,
    scatter: np.ndarray | None = None,
    prev: np.ndarray | None = None,
    nxt: np.ndarray | None = None,
) -> np.ndarray:
    """Flag single-pair outliers: |x_t - median3_t| > sigma * max(sqrt(var_t), scatter).

    x, var: (n, ny, nx) CDS frames; ``scatter`` (ny, nx) from :func:`temporal_scatter`.
    Returns (n, ny, nx) bool.
    """
    noise = np.sqrt(var) if scatter is None else np.maximum(np.sqrt(var), scatter.astype(var.dtype))
    with np.errstate(invalid="ignore"):
        return np.abs(median3_residual(x, prev, nxt)) > sigma * noise
