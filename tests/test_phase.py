"""Unit tests for :mod:`spectramind.calibration.phase`: hand examples and injected transits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spectramind import sim
from spectramind.calibration import phase

DURATION_H = 7.5  # one visit (DESIGN.md)
BIN_S = 120.0  # CalibrationConfig.time_bin_s
BIN_H = BIN_S / 3600.0
DEPTH = 0.0147  # mean (Rp/Rs)^2 of train.csv
# white-light noise per 120 s bin: the FGS1 + AIRS sum over a bin holds ~1e9 photo-counts
# (photon noise ~3e-5); 2e-4 adds a margin for jitter and read noise, and is conservative
WHITE_NOISE = 2e-4
DRIFT_AMPLITUDE = 0.01  # max |drift| of the 5th-order polynomial baseline: 1 %
# the brief's requirement on the detected centre: one time bin
CENTRE_TOL_H = BIN_H


@pytest.fixture
def make_white_light_curve():
    """Factory: binned white-light curve (t, flux) of a trapezoid transit on a random
    5th-order polynomial drift (max |drift| = ``drift``) with white noise; returns t, flux,
    t14, t23."""

    def _make(
        t0_h: float,
        *,
        depth: float = DEPTH,
        drift: float = DRIFT_AMPLITUDE,
        noise: float = WHITE_NOISE,
        seed: int = 0,
    ):
        rng = np.random.default_rng(seed)
        edges = phase.bin_edges(DURATION_H, BIN_S)
        t = 0.5 * (edges[:-1] + edges[1:])
        t14, t23 = phase.transit_durations(3.5, 9.0, 88.5, math.sqrt(depth))
        baseline = 1.0 + drift * sim.random_polynomial(rng, t, degree=5)
        flux = baseline * (1.0 - depth * phase.trapezoid(t, t0_h, t14, t23))
        return t, flux + noise * rng.standard_normal(t.size), t14, t23

    return _make


# --------------------------------------------------------------------------- binning
def test_bin_edges_exact():
    np.testing.assert_allclose(phase.bin_edges(1.0, 1200.0), [0.0, 1 / 3, 2 / 3, 1.0], rtol=1e-15)
    edges = phase.bin_edges(DURATION_H, BIN_S)
    assert edges.size == 226  # 7.5 h / 120 s = 225 bins
    assert edges[-1] == pytest.approx(7.5, rel=1e-15)
    # a duration that is not a multiple of the bin: the last bin covers the end
    np.testing.assert_allclose(phase.bin_edges(1.0, 1400.0), np.arange(4) * 1400 / 3600, rtol=1e-15)


def test_time_bin_hand_example():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    t = np.array([0.1, 0.5, 0.9, 1.2, 1.7, 1.8, 2.5])
    flux = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 99.0, np.nan])
    var = np.array([1.0, 1.0, 1.0, 4.0, 4.0, np.nan, 1.0])  # NaN var: sample left out too
    mean, vmean, count = phase.time_bin(t, flux, var, edges)
    np.testing.assert_allclose(mean[:2], [2.0, 15.0], rtol=1e-15)
    np.testing.assert_allclose(vmean[:2], [3.0 / 9.0, 8.0 / 4.0], rtol=1e-15)  # sum var / n^2
    np.testing.assert_array_equal(count, [3, 2, 0])
    assert np.isnan(mean[2]) and np.isnan(vmean[2])
    # (n, n_wl) light curves are binned column by column
    f2 = np.stack([flux, 2 * flux], axis=1)
    v2 = np.stack([var, 4 * var], axis=1)
    mean2, vmean2, _ = phase.time_bin(t, f2, v2, edges)
    np.testing.assert_allclose(mean2[:2], [[2.0, 4.0], [15.0, 30.0]], rtol=1e-15)
    np.testing.assert_allclose(vmean2[:2, 1], [4 * 3.0 / 9.0, 4 * 2.0], rtol=1e-15)


def test_bin_regressor_means():
    edges = np.array([0.0, 1.0, 2.0])
    out = phase.bin_regressor(np.array([0.2, 0.4, 1.5]), np.array([1.0, 4.0, -2.0]), edges)
    np.testing.assert_allclose(out, [2.5, -2.0], rtol=1e-15)


# --------------------------------------------------------------------------- durations, shape
def test_transit_durations_hand_values():
    # central transit (i = 90): T14 = P/pi asin((1 + k) / a); (1 + 0.1) / 2.2 = 1/2 -> asin = pi/6,
    # so T14 = 24 h * 1 d / 6 = 4 h exactly
    t14, t23 = phase.transit_durations(1.0, 2.2, 90.0, 0.1)
    assert t14 == pytest.approx(4.0, rel=1e-12)
    assert t23 == pytest.approx(24.0 / math.pi * math.asin(0.9 / 2.2), rel=1e-12)
    assert t23 == pytest.approx(3.2197, abs=1e-4)  # asin(0.40909) = 0.42145 rad
    # inclined: b = a cos i = 8 cos 88 deg = 0.27920
    b = 8.0 * math.cos(math.radians(88.0))
    t14, t23 = phase.transit_durations(3.0, 8.0, 88.0, 0.12)
    s = 8.0 * math.sin(math.radians(88.0))
    assert t14 == pytest.approx(
        72.0 / math.pi * math.asin(math.sqrt(1.12**2 - b**2) / s), rel=1e-12
    )
    assert t23 == pytest.approx(
        72.0 / math.pi * math.asin(math.sqrt(0.88**2 - b**2) / s), rel=1e-12
    )
    # by hand: sqrt(1.2544 - 0.07795) = 1.08464, / 7.99513 = 0.135663, asin = 0.136083 rad
    assert t14 == pytest.approx(3.1188, abs=1e-4)


def test_transit_durations_grazing_and_no_transit():
    # a = 2, i = 60 deg -> b = 1.0: grazing for k = 0.1 (b > 1 - k), no full transit
    t14, t23 = phase.transit_durations(1.0, 2.0, 60.0, 0.1)
    assert t23 == 0.0
    assert t14 == pytest.approx(
        24.0 / math.pi * math.asin(math.sqrt(1.21 - 1.0) / math.sqrt(3.0)), rel=1e-9
    )
    assert phase.transit_durations(1.0, 2.0, 30.0, 0.1) == (0.0, 0.0)  # b = 1.73 > 1 + k


def test_trapezoid_values():
    t = np.array([0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0])
    # t0 = 2, T14 = 2 (contacts 1 and 3), T23 = 1 (1.5 .. 2.5)
    np.testing.assert_allclose(phase.trapezoid(t, 2.0, 2.0, 1.0), [0, 0, 1, 1, 1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(
        phase.trapezoid(np.array([1.25, 2.75]), 2.0, 2.0, 1.0), [0.5, 0.5], rtol=1e-15
    )
    # grazing (T23 = 0): a triangle
    np.testing.assert_allclose(
        phase.trapezoid(np.array([1.5, 2.0]), 2.0, 2.0, 0.0), [0.5, 1.0], rtol=1e-12
    )


# --------------------------------------------------------------------------- detection
@pytest.mark.parametrize(("t0_h", "seed"), [(3.1, 1), (4.4, 2), (2.6, 3)])
def test_detect_transit_recovers_injected_centre_on_drifting_baseline(
    make_white_light_curve, t0_h, seed
):
    t, flux, t14, t23 = make_white_light_curve(t0_h, seed=seed)
    win = phase.detect_transit(t, flux, t14_h=t14, t23_h=t23, baseline_degree=5)
    centre = 0.5 * (win.ingress_h + win.egress_h)
    assert abs(centre - t0_h) <= CENTRE_TOL_H
    assert win.egress_h - win.ingress_h == pytest.approx(t14, rel=1e-12)
    assert win.ingress_observed and win.egress_observed
    # depth of the fitted trapezoid relative to the baseline: the drift (1 %) multiplies it
    assert win.depth == pytest.approx(DEPTH, rel=0.05)
    assert win.snr > 20


def test_detect_transit_with_gaps_in_the_data(make_white_light_curve):
    t, flux, t14, t23 = make_white_light_curve(3.6, seed=4)
    flux[40:60] = np.nan  # a data gap before the transit
    win = phase.detect_transit(t, flux, t14_h=t14, t23_h=t23, baseline_degree=5)
    assert abs(0.5 * (win.ingress_h + win.egress_h) - 3.6) <= CENTRE_TOL_H


def test_detect_transit_partial_transit_at_the_end(make_white_light_curve):
    t0 = 6.9
    t, flux, t14, t23 = make_white_light_curve(t0, seed=5)
    assert t0 + t14 / 2 > t[-1]  # egress after the end of the visit
    win = phase.detect_transit(t, flux, t14_h=t14, t23_h=t23, baseline_degree=5)
    assert win.ingress_observed
    assert not win.egress_observed
    assert abs(win.ingress_h - (t0 - t14 / 2)) <= CENTRE_TOL_H


def test_detect_transit_needs_data():
    t = np.linspace(0, 7.5, 10)
    with pytest.raises(ValueError, match="too few"):
        phase.detect_transit(t, np.full(10, np.nan), t14_h=2.0, t23_h=1.5)


# --------------------------------------------------------------------------- normalisation
def test_out_of_transit_mask_margin():
    win = phase.TransitWindow(
        ingress_h=2.0,
        egress_h=4.0,
        ingress_observed=True,
        egress_observed=True,
        snr=10.0,
        depth=0.01,
    )
    t = np.array([1.0, 1.74, 1.76, 3.0, 4.24, 4.26, 6.0])
    np.testing.assert_array_equal(
        phase.out_of_transit_mask(t, win, 0.25), [True, True, False, False, False, True, True]
    )


def test_normalise_divides_by_out_of_transit_median():
    flux = np.array([[10.0, 100.0], [12.0, 90.0], [5.0, 50.0], [11.0, 110.0], [14.0, 95.0]])
    var = np.full_like(flux, 4.0)
    oot = np.array([True, True, False, True, False])
    nf, nv, level = phase.normalise(flux, var, oot)
    np.testing.assert_array_equal(level, [11.0, 100.0])  # medians of rows 0, 1, 3
    np.testing.assert_allclose(nf, flux / level, rtol=1e-15)
    np.testing.assert_allclose(nv, var / level**2, rtol=1e-15)
    # fewer than 3 out-of-transit bins: the median of all bins
    _, _, level = phase.normalise(flux, var, np.array([True, False, False, False, True]))
    np.testing.assert_array_equal(level, [11.0, 95.0])
    # a zero level gives NaN, not inf
    nf, _, _ = phase.normalise(np.zeros((3, 1)), np.ones((3, 1)), np.ones(3, bool))
    assert np.isnan(nf).all()


def test_time_bin_leaves_out_samples_outside_the_edges():
    edges = np.array([0.0, 1.0, 2.0])
    t = np.array([-0.5, 0.5, 1.5, 2.0, 2.5, 9.0])  # 2.0 is the closing edge: last bin
    flux = np.array([100.0, 1.0, 3.0, 5.0, 100.0, 100.0])
    mean, vmean, count = phase.time_bin(t, flux, np.ones(6), edges)
    np.testing.assert_array_equal(count, [1, 2])
    np.testing.assert_allclose(mean, [1.0, 4.0], rtol=1e-15)
    np.testing.assert_allclose(vmean, [1.0, 0.5], rtol=1e-15)
    mean2, _, count2 = phase.time_bin(t, np.stack([flux, flux], axis=1), np.ones((6, 2)), edges)
    np.testing.assert_array_equal(count2, [[1, 1], [2, 2]])


def _lstsq_matched_filter(t, white, t14, t23, degree):
    """The matched filter one trial centre at a time through np.linalg.lstsq (the reference
    of the vectorised fits)."""
    tau = (t - t[0]) / (t[-1] - t[0]) * 2 - 1
    base = np.vander(tau, degree + 1, increasing=True)
    step = max(np.median(np.diff(t)) / 2, 1e-3)
    best = (-np.inf, None, None)
    for c in np.arange(t[0] - t14 / 2 + step, t[-1] + t14 / 2 - step, step):
        shape = phase.trapezoid(t, c, t14, t23)
        if shape.sum() < 2 or np.all(shape > 0):
            continue
        design = np.column_stack([base, -shape])
        coef, *_ = np.linalg.lstsq(design, white, rcond=None)
        sigma = np.std(white - design @ coef) + 1e-12
        snr = coef[-1] / (sigma * np.sqrt(np.linalg.pinv(design.T @ design)[-1, -1]))
        if snr > best[0]:
            best = (snr, c, coef[-1] / max(coef[0], 1e-12))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detect_transit_equals_the_fit_of_every_centre_by_lstsq(seed):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 7.5, 225)
    shape = phase.trapezoid(t, rng.uniform(2.5, 5.0), 2.4, 1.8)
    white = (1 + 0.002 * (t / 7.5) - 0.001 * (t / 7.5) ** 2) * (1 - 0.005 * shape)
    white = white + rng.normal(0, 4e-4, t.size)
    snr, c, depth = _lstsq_matched_filter(t, white, 2.4, 1.8, 3)
    win = phase.detect_transit(t, white, t14_h=2.4, t23_h=1.8, baseline_degree=3)
    assert win.ingress_h == pytest.approx(c - 1.2, abs=1e-12)
    assert win.snr == pytest.approx(snr, rel=1e-8)
    assert win.depth == pytest.approx(depth, rel=1e-8) and 0.003 < win.depth < 0.007


def test_time_bin_equals_a_loop_over_bins_with_nans_and_samples_outside():
    rng = np.random.default_rng(5)
    t = np.sort(rng.uniform(-0.2, 2.2, 500))
    flux, var = rng.normal(1, 0.1, (500, 3)), rng.uniform(0.5, 1.5, (500, 3))
    flux[rng.integers(0, 500, 40), rng.integers(0, 3, 40)] = np.nan
    edges = phase.bin_edges(2.0, 600.0)
    mean, vmean, count = phase.time_bin(t, flux, var, edges)
    for b in range(len(edges) - 1):
        inb = (
            (t >= edges[b]) & (t < edges[b + 1])
            if b < len(edges) - 2
            else (t >= edges[b]) & (t <= edges[-1])
        )
        for j in range(3):
            ok = inb & np.isfinite(flux[:, j])
            assert count[b, j] == ok.sum()
            assert mean[b, j] == pytest.approx(flux[ok, j].mean(), rel=1e-12)
            assert vmean[b, j] == pytest.approx(var[ok, j].sum() / ok.sum() ** 2, rel=1e-12)
