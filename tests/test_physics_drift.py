"""Tests of the data-driven drift of :mod:`spectramind.physics.whitelight`: the Legendre and
ramp basis, the BIC, and the choice of order and ramp on light curves of a known drift."""

from __future__ import annotations

import numpy as np
import pytest

from spectramind.physics import common, spectral, whitelight

N = 225
T_H = (np.arange(N) + 0.5) * 7.5 / N
CFG = common.FitConfig()
CANDIDATES = whitelight.drift_candidates(CFG)


def _transit() -> np.ndarray:
    return common.transit(
        T_H, t0_h=3.75, period_d=3.5, a_rs=9.0, inc_deg=88.5, k=0.1, u1=0.3, u2=0.2
    )


def _curve(seed: int, coef: np.ndarray, ramp: tuple[float, float] | None, sigma: float):
    """y = T (1 + sum_n coef_n P_n + R exp(-t / tau)) + noise, var = sigma^2."""
    rng = np.random.default_rng(seed)
    tr = _transit()
    base = 1.0 + whitelight.legendre_basis(T_H, len(coef) - 1) @ coef
    if ramp is not None:
        base += ramp[0] * np.exp(-T_H / ramp[1])
    y = tr * base + sigma * rng.normal(size=N)
    return y, np.full(N, sigma**2), tr


def test_drift_basis_is_legendre_then_the_ramp_column():
    b = whitelight.drift_basis(np.array([0.0, 3.75, 7.5]), 2, 0.5)
    np.testing.assert_allclose(
        b, [[1, -1, 1, 1.0], [1, 0, -0.5, np.exp(-7.5)], [1, 1, 1, np.exp(-15.0)]], atol=1e-15
    )
    assert whitelight.drift_basis(T_H, 4).shape == (N, 5)


def test_bic_penalises_parameters_by_log_n_and_is_scale_free_in_chi2():
    assert whitelight.bic(100.0, 100, 3) - whitelight.bic(100.0, 100, 2) == pytest.approx(
        np.log(100)
    )
    # doubling every variance halves chi2: the same shift for every candidate
    d1 = whitelight.bic(50.0, 100, 2) - whitelight.bic(40.0, 100, 5)
    d2 = whitelight.bic(25.0, 100, 2) - whitelight.bic(20.0, 100, 5)
    assert d1 == pytest.approx(d2)


def test_candidates_are_every_order_with_and_without_each_ramp():
    assert len(CANDIDATES) == CFG.drift_max_order * (1 + len(CFG.ramp_tau_h))
    assert (1, None) in CANDIDATES and (CFG.drift_max_order, CFG.ramp_tau_h[-1]) in CANDIDATES
    assert all(1 <= n <= CFG.drift_max_order for n, _ in CANDIDATES)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_select_drift_finds_the_order_of_a_strong_polynomial_drift(order):
    coef = np.r_[0.0, np.zeros(order - 1), 3e-3]  # the top coefficient well above the noise
    hits = 0
    for seed in range(5):
        y, var, tr = _curve(seed, coef, None, 1e-4)
        c = whitelight.select_drift(y, var, T_H, tr, np.zeros((N, 0)), CANDIDATES)
        hits += c.order == order and c.ramp_tau_h is None
    assert hits >= 4  # BIC: the true order, rarely one more


def test_select_drift_takes_a_ramp_when_there_is_one_and_its_time_scale():
    y, var, tr = _curve(0, np.array([0.0, 1e-3]), (-5e-3, 0.25), 1e-4)
    c = whitelight.select_drift(y, var, T_H, tr, np.zeros((N, 0)), CANDIDATES)
    assert c.ramp_tau_h == pytest.approx(0.25)
    y, var, tr = _curve(0, np.array([0.0, 1e-3]), None, 1e-4)
    assert whitelight.select_drift(y, var, T_H, tr, np.zeros((N, 0)), CANDIDATES).ramp_tau_h is None


def test_select_drift_never_picks_a_candidate_with_too_few_points():
    y, var, tr = _curve(1, np.array([0.0, 1e-3]), None, 1e-4)
    y[5:] = np.nan  # 5 points: only order 1 without ramp (p = 2, n >= p + 2 = 4) fits
    c = whitelight.select_drift(y, var, T_H, tr, np.zeros((N, 0)), CANDIDATES)
    assert (c.order, c.ramp_tau_h) == (1, None) and np.isfinite(c.bic)


def test_fgs_bin_depth_and_sigma_include_the_drift():
    """y = m (1 - D s) with a cubic drift m: exact depth on noiseless data; with noise, the
    sigma with the drift free is larger than the one with the drift known, and calibrated."""
    tr = _transit()
    shape = (1 - tr) / 0.01
    basis = whitelight.drift_basis(T_H, 3)
    m = 1.0 + basis @ np.array([0.0, 2e-3, -1e-3, 5e-4])
    y = m * (1 - 0.01 * shape)
    d, vd, _ = spectral.fit_fgs_bin(y, np.full(N, 1e-8), shape, m, basis, np.zeros((N, 0)))
    assert d == pytest.approx(0.01, rel=1e-9)
    rng = np.random.default_rng(3)
    z, ratio = [], []
    for _ in range(200):
        yn = y + 1e-4 * rng.normal(size=N)
        d, vd, c2 = spectral.fit_fgs_bin(yn, np.full(N, 1e-8), shape, m, basis, np.zeros((N, 0)))
        known = common.weighted_lstsq((-shape * m)[:, None], yn - m, np.full(N, 1e-8))
        z.append((d - 0.01) / np.sqrt(vd))
        ratio.append(vd / (known[1][0, 0] * c2))
    assert np.std(z) == pytest.approx(1.0, abs=0.15)
    assert min(ratio) > 1.0
