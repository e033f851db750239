"""The low-rank spectral prior, fitted on the training labels (numpy; no torch).

A spectrum ``y`` (W = 283 bins) is written as a level plus a shape::

    y = mean + c_0 * 1 + amp * (sum_k c_k v_k + e)

``v_k`` are the leading principal components of the amplitude-normalised training shapes
(each spectrum minus its own bin-mean, divided by its expected feature amplitude ``amp``,
see :func:`feature_amplitude`); they are orthonormal and orthogonal to the constant. The
prior variances are the training variances of the level ``c_0``, of the normalised
coefficients ``c_k`` and of the per-bin remainder ``e`` (``tau2``: its leave-one-out
estimate, floored). The symbolic
losses use the same fit: the projector onto ``span(1, v_k)``, the FGS1-vs-AIRS relation of
the training labels and the typical curvature of a training spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "MIN_DEPTH",
    "STAT_FLOOR",
    "SpectralPrior",
    "feature_amplitude",
    "fit_spectral_prior",
    "scale_height_rs",
]

_K_B, _M_H, _G = 1.380649e-23, 1.6735575e-27, 6.674e-11
_R_SUN, _M_JUP = 6.957e8, 1.898e27
#: mean molecular weight (in hydrogen masses) of a hydrogen-dominated atmosphere
_MU_ATM = 2.3
#: smallest depth used for the amplitude (a non-physical or missing depth must not give 0)
MIN_DEPTH = 1e-4  # feature amplitudes are evaluated at no shallower depth
#: floor of the loss normalisers (depth units): the metric's AIRS sigma_true, 10 ppm; smaller
#: deviations do not matter to the score and must not make a symbolic term stiff
STAT_FLOOR = 1e-5


def scale_height_rs(star: pd.DataFrame, depth: np.ndarray) -> np.ndarray:
    """Atmospheric scale height ``k T_eq / (mu m_H g)`` in stellar radii, per planet.

    ``star``: columns Rs (R_sun), Ts (K), Mp (M_jup), sma (a/Rs); ``depth``: (n,) (Rp/Rs)^2.
    ``T_eq = Ts sqrt(1 / (2 a/Rs))``, ``g = G Mp / Rp^2`` with ``Rp = sqrt(depth) Rs``.
    """
    depth = np.clip(np.asarray(depth, dtype=float), MIN_DEPTH, None)
    rs = star["Rs"].to_numpy(dtype=float) * _R_SUN
    t_eq = star["Ts"].to_numpy(dtype=float) * np.sqrt(
        1.0 / (2.0 * star["sma"].to_numpy(dtype=float))
    )
    r_p = np.sqrt(depth) * rs
    g = _G * np.clip(star["Mp"].to_numpy(dtype=float), 0.01, None) * _M_JUP / r_p**2
    return _K_B * t_eq / (_MU_ATM * _M_H * g) / rs


def feature_amplitude(star: pd.DataFrame, depth: np.ndarray) -> np.ndarray:
    """Expected size of the spectral features, ``sqrt(depth) * H / Rs`` (arbitrary units).

    Transmission features scale with the annulus ``2 Rp H / Rs^2`` ~ ``sqrt(depth) H``.
    """
    depth = np.clip(np.asarray(depth, dtype=float), MIN_DEPTH, None)
    return np.sqrt(depth) * scale_height_rs(star, depth)


@dataclass(frozen=True)
class SpectralPrior:
    """Prior fitted on training labels; every array float64.

    mean: (W,) mean training spectrum. basis: (W, R) = [1, v_1..v_K] (R = K + 1).
    lam: (R,) variance of c_0 (depth units) and of the normalised c_k. tau2: (W,) variance
    of the normalised remainder. amp_ref: median training amplitude (amp is divided by it).
    coherence: (alpha, beta, scale) of ``y_0 ~ alpha + beta * mean(y_AIRS)`` on train and
    the rms of its residual. curvature: (W - 3,) rms second difference of the AIRS part of
    the training spectra. level_mean: mean training depth. The coherence scale and the
    curvature are floored at ``STAT_FLOOR``.
    """

    mean: np.ndarray
    basis: np.ndarray
    lam: np.ndarray
    tau2: np.ndarray
    amp_ref: float
    coherence: tuple[float, float, float]
    curvature: np.ndarray
    level_mean: float

    @property
    def rank(self) -> int:
        return self.basis.shape[1] - 1


def _loo_remainder(shape: np.ndarray, k: int) -> np.ndarray:
    """Leave-one-out remainder: each row minus its projection on the top-``k`` components of
    the *other* rows. In-sample remainders underestimate the part of a new spectrum outside
    the subspace (the components were fitted to those very rows)."""
    n = shape.shape[0]
    rem = np.empty_like(shape)
    for i in range(n):
        others = np.delete(shape, i, axis=0)
        _, _, vt = np.linalg.svd(others, full_matrices=False)  # as the full fit: no re-centring
        v = vt[:k].T
        rem[i] = shape[i] - (shape[i] @ v) @ v.T
    return rem


def fit_spectral_prior(
    labels: np.ndarray, amplitude: np.ndarray, *, rank: int, tau_floor: float = 1e-6
) -> SpectralPrior:
    """Fit :class:`SpectralPrior` on ``labels`` (n, W) with feature ``amplitude`` (n,).

    ``rank`` is capped at ``n - 2`` so that the remainder variance keeps at least one degree
    of freedom. ``tau_floor`` (normalised units) keeps ``tau2`` away from 0.
    """
    y = np.asarray(labels, dtype=float)
    amp = np.asarray(amplitude, dtype=float)
    n, w = y.shape
    if n < 2 or amp.shape != (n,) or not np.all(np.isfinite(y)) or not np.all(amp > 0):
        raise ValueError(
            f"need >= 2 finite label rows and positive amplitudes, got {y.shape}, {amp.shape}"
        )
    if rank < 0:
        raise ValueError(f"rank must be >= 0, got {rank}")
    amp_ref = float(np.median(amp))
    amp = amp / amp_ref
    mean = y.mean(axis=0)
    resid = y - mean
    level = resid.mean(axis=1)  # c_0 per planet
    shape = (resid - level[:, None]) / amp[:, None]  # rows sum to 0
    k = int(min(rank, max(n - 2, 0)))
    _, _, vt = np.linalg.svd(shape, full_matrices=False)
    v = vt[:k].T  # (W, k), orthonormal, orthogonal to the constant
    coef = shape @ v  # (n, k)
    rem = _loo_remainder(shape, k)
    lam = np.concatenate([[np.sum(level**2) / (n - 1)], np.sum(coef**2, axis=0) / (n - 1)])
    tau2 = np.maximum(np.mean(rem**2, axis=0), tau_floor**2)
    airs_mean = y[:, 1:].mean(axis=1)
    a_mat = np.stack([np.ones(n), airs_mean], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(a_mat, y[:, 0], rcond=None)
    coh_scale = float(max(np.sqrt(np.mean((y[:, 0] - alpha - beta * airs_mean) ** 2)), STAT_FLOOR))
    d2 = y[:, 3:] - 2 * y[:, 2:-1] + y[:, 1:-2]
    curvature = np.maximum(np.sqrt(np.mean(d2**2, axis=0)), STAT_FLOOR)
    basis = np.concatenate([np.ones((w, 1)), v], axis=1)
    return SpectralPrior(
        mean=mean,
        basis=basis,
        lam=lam,
        tau2=tau2,
        amp_ref=amp_ref,
        coherence=(float(alpha), float(beta), coh_scale),
        curvature=curvature,
        level_mean=float(y.mean()),
    )
