"""Population priors learned on the train split: pure functions, no I/O.

A population quantity q (e.g. ln(a_fit / a_star), i_fit - i_star, the FGS1-AIRS time offset)
is measured on every train planet with its own uncertainty sd_i. Its population is
N(mu, sd_pop^2); each measurement is then N(mu, sd_pop^2 + sd_i^2). :func:`ml_population`
finds (mu, sd_pop) by maximum likelihood, so the fits' own errors are deconvolved from the
population spread (the spread of the raw measurements would overstate sd_pop by the typical
sd_i). :func:`fallback_spectrum` is the failed-fit prediction learned from the train labels.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar


def _profile(x: np.ndarray, sd: np.ndarray, s_pop: float) -> tuple[float, float]:
    """(mu, negative log-likelihood) at population sd ``s_pop``, mu profiled out."""
    var = s_pop**2 + sd**2
    w = 1.0 / var
    mu = float(np.sum(w * x) / np.sum(w))
    return mu, float(0.5 * np.sum(np.log(var) + (x - mu) ** 2 / var))


def ml_population(x: np.ndarray, sd: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (mu, sd_pop) of x_i ~ N(mu, sd_pop^2 + sd_i^2).

    Non-finite pairs are dropped; sd_pop is searched on a log scale between 1e-6 of and 10
    times the raw spread (0 when the measurements scatter no more than their errors). Needs
    at least two finite measurements with sd_i >= 0.
    """
    x, sd = np.asarray(x, dtype=float), np.asarray(sd, dtype=float)
    if x.shape != sd.shape:
        raise ValueError(f"x {x.shape} and sd {sd.shape} differ in shape")
    ok = np.isfinite(x) & np.isfinite(sd) & (sd >= 0)
    x, sd = x[ok], sd[ok]
    if len(x) < 2:
        raise ValueError(f"{len(x)} finite measurements: a population needs at least 2")
    spread = float(np.std(x))
    if spread == 0.0:
        return float(x[0]), 0.0
    lo, hi = np.log(1e-6 * spread), np.log(10.0 * spread)
    res = minimize_scalar(
        lambda ls: _profile(x, np.maximum(sd, 1e-12 * spread), float(np.exp(ls)))[1],
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-6},
    )
    s_pop = float(np.exp(res.x))
    if res.x - lo < 1e-3 * (hi - lo):  # at the lower end: no spread beyond the errors
        s_pop = 0.0
    mu, _ = _profile(x, np.maximum(sd, 1e-12 * spread), s_pop)
    return mu, s_pop


def fallback_spectrum(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean train spectrum and its per-bin sd (n_bins,) from the labels (n_planets, n_bins):
    the prediction of a failed fit (what is known of a planet without its own data)."""
    y = np.asarray(labels, dtype=float)
    if y.ndim != 2 or y.shape[0] < 2:
        raise ValueError(f"labels of shape {y.shape}: need (n_planets >= 2, n_bins)")
    return np.nanmean(y, axis=0), np.nanstd(y, axis=0, ddof=1)
