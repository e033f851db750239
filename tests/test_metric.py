"""Tests for spectramind.metric (NeurIPS 2025 Ariel Data Challenge metric)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spectramind.metric import (
    FGS_WEIGHT,
    N_BINS,
    SIGMA_TRUE_AIRS,
    SIGMA_TRUE_FGS,
    MetricError,
    align,
    challenge_score,
    coverage,
    frame_to_arrays,
    gaussian_log_likelihood,
    naive_stats,
    per_bin_scores,
    rmse_ppm,
    score_report,
)

# Tolerances.
# Same formula evaluated in a different order (math vs numpy, scalar vs pairwise sums):
# agreement to a few ulps times the number of summed terms (<= ~600).
REL_TOL = 1e-12
# Ratios of *differences* of two scores of order 1: the differences are ~1e-3, so the
# ~1e-15 absolute rounding of each score becomes ~1e-12 relative; keep a wide margin.
DIFF_RTOL = 1e-7

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def logpdf(y: float, m: float, s: float) -> float:
    """Hand-written Gaussian log-density with math (independent of the module)."""
    return -LOG_SQRT_2PI - math.log(s) - 0.5 * ((y - m) / s) ** 2


def realistic(n_planets: int = 6, seed: int = 0) -> tuple[np.ndarray, float, float]:
    """Synthetic transit-depth labels ~1e-2 with ~1e-3 spread, and their naive stats."""
    rng = np.random.default_rng(seed)
    y = 0.01 + 0.002 * rng.random((n_planets, 1)) + 2e-4 * rng.random((n_planets, N_BINS))
    naive_mean, naive_sigma = naive_stats(y)
    return y, naive_mean, naive_sigma


def sigma_true_matrix(n_planets: int) -> np.ndarray:
    sig = np.full((n_planets, N_BINS), SIGMA_TRUE_AIRS)
    sig[:, 0] = SIGMA_TRUE_FGS
    return sig


def kaggle_reference(y_true, y_pred, sigma_pred, naive_mean, naive_sigma, fgs_weight=FGS_WEIGHT):
    """The official Kaggle reduction, re-expressed with scipy.stats.norm.logpdf."""
    sigma_pred = np.clip(sigma_pred, 1e-15, None)
    sigma_true = np.append([SIGMA_TRUE_FGS], np.full(N_BINS - 1, SIGMA_TRUE_AIRS))
    gll_pred = scipy.stats.norm.logpdf(y_true, loc=y_pred, scale=sigma_pred)
    gll_true = scipy.stats.norm.logpdf(y_true, loc=y_true, scale=sigma_true * np.ones_like(y_true))
    gll_mean = scipy.stats.norm.logpdf(y_true, loc=naive_mean, scale=naive_sigma)
    ind = (gll_pred - gll_mean) / (gll_true - gll_mean)
    weights = np.append([fgs_weight], np.ones(N_BINS - 1)) * np.ones_like(ind)
    return float(np.clip(np.average(ind, weights=weights), 0.0, 1.0))


# --------------------------------------------------------------------------- log-likelihood


def test_gaussian_log_likelihood_hand_values():
    assert gaussian_log_likelihood(0.0, 0.0, 1.0) == pytest.approx(-LOG_SQRT_2PI, rel=REL_TOL)
    # y=1, mu=0, sigma=2: -0.5 log(2 pi) - log 2 - 0.5 * (1/2)^2
    expected = -LOG_SQRT_2PI - math.log(2.0) - 0.125
    assert gaussian_log_likelihood(1.0, 0.0, 2.0) == pytest.approx(expected, rel=REL_TOL)
    out = gaussian_log_likelihood(np.array([[0.0, 3.0]]), 1.0, np.array([1.0, 0.5]))
    assert out.shape == (1, 2)
    assert out[0, 0] == pytest.approx(-LOG_SQRT_2PI - 0.5, rel=REL_TOL)
    assert out[0, 1] == pytest.approx(-LOG_SQRT_2PI - math.log(0.5) - 8.0, rel=REL_TOL)


def test_gaussian_log_likelihood_sigma_zero_is_clipped_to_floor():
    exact_hit = gaussian_log_likelihood(0.5, 0.5, 0.0)
    assert exact_hit == pytest.approx(-LOG_SQRT_2PI + 15.0 * math.log(10.0), rel=REL_TOL)
    miss = gaussian_log_likelihood(1.0, 0.0, 0.0)  # z = 1e15 -> -5e29, finite
    assert miss == pytest.approx(logpdf(1.0, 0.0, 1e-15), rel=REL_TOL)
    assert np.isfinite(miss)


def test_gaussian_log_likelihood_overflow_is_minus_inf_without_warning():
    assert gaussian_log_likelihood(1e300, 0.0, 1e-15) == -np.inf


# --------------------------------------------------------------------------- challenge score


def test_two_planet_hand_computed_score():
    naive_mean, naive_sigma = 0.011, 0.001
    # planet A: y = 0.010 in every bin; planet B: y = 0.012 in every bin
    y = np.empty((2, N_BINS))
    y[0], y[1] = 0.010, 0.012
    mu = np.empty((2, N_BINS))
    mu[0, 0], mu[0, 1:] = 0.0101, 0.0099
    mu[1, 0], mu[1, 1:] = 0.0120, 0.0121
    sigma = np.empty((2, N_BINS))
    sigma[0] = 1e-4
    sigma[1, 0], sigma[1, 1:] = 5e-5, 2e-4

    def ratio(yv, m, s, s_true):
        l_pred = logpdf(yv, m, s)
        l_true = logpdf(yv, yv, s_true)
        l_naive = logpdf(yv, naive_mean, naive_sigma)
        return (l_pred - l_naive) / (l_true - l_naive)

    r_a0 = ratio(0.010, 0.0101, 1e-4, 1e-6)
    r_a_airs = ratio(0.010, 0.0099, 1e-4, 1e-5)
    r_b0 = ratio(0.012, 0.0120, 5e-5, 1e-6)
    r_b_airs = ratio(0.012, 0.0121, 2e-4, 1e-5)
    w = 57.846
    expected = (w * (r_a0 + r_b0) + 282 * (r_a_airs + r_b_airs)) / (2 * (w + 282))
    assert 0.0 < expected < 1.0

    got = challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma)
    assert got == pytest.approx(expected, rel=REL_TOL)
    assert got == pytest.approx(
        kaggle_reference(y, mu, sigma, naive_mean, naive_sigma), rel=REL_TOL
    )

    pb = per_bin_scores(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma)
    assert pb.shape == (N_BINS,)
    assert pb[0] == pytest.approx((r_a0 + r_b0) / 2, rel=REL_TOL)
    np.testing.assert_allclose(pb[1:], (r_a_airs + r_b_airs) / 2, rtol=REL_TOL)

    # The official reduction averages per-element ratios; it is NOT the pooled ratio
    # (sum w L - sum w L_naive) / (sum w L_true - sum w L_naive).
    groups = [  # (y, mu, sigma, sigma_true, total weight of the group)
        (0.010, 0.0101, 1e-4, 1e-6, w),
        (0.012, 0.0120, 5e-5, 1e-6, w),
        (0.010, 0.0099, 1e-4, 1e-5, 282),
        (0.012, 0.0121, 2e-4, 1e-5, 282),
    ]
    num = sum(
        c * (logpdf(yv, m, s) - logpdf(yv, naive_mean, naive_sigma)) for yv, m, s, _, c in groups
    )
    den = sum(
        c * (logpdf(yv, yv, t) - logpdf(yv, naive_mean, naive_sigma)) for yv, _, _, t, c in groups
    )
    pooled_score = num / den
    assert abs(pooled_score - got) > 1e-3


def test_matches_kaggle_reference_on_realistic_data():
    y, naive_mean, naive_sigma = realistic(8, seed=1)
    rng = np.random.default_rng(2)
    mu = y + 3e-5 * rng.standard_normal(y.shape)
    sigma = np.full_like(y, 4e-5)
    got = challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma)
    assert 0.0 < got < 1.0
    ref = kaggle_reference(y, mu, sigma, naive_mean, naive_sigma)
    assert got == pytest.approx(ref, rel=REL_TOL)


def test_perfect_prediction_with_sigma_true_scores_one():
    y, naive_mean, naive_sigma = realistic()
    sig = sigma_true_matrix(y.shape[0])
    assert challenge_score(y, y.copy(), sig, naive_mean=naive_mean, naive_sigma=naive_sigma) == 1.0
    raw = challenge_score(
        y, y.copy(), sig, naive_mean=naive_mean, naive_sigma=naive_sigma, clip=False
    )
    assert raw == pytest.approx(1.0, rel=REL_TOL)
    pb = per_bin_scores(y, y.copy(), sig, naive_mean=naive_mean, naive_sigma=naive_sigma)
    np.testing.assert_allclose(pb, 1.0, rtol=REL_TOL)


def test_naive_prediction_scores_zero():
    y, naive_mean, naive_sigma = realistic()
    mu = np.full_like(y, naive_mean)
    sigma = np.full_like(y, naive_sigma)
    raw = challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma, clip=False)
    assert raw == 0.0  # numerator L - L_naive is exactly zero elementwise, not clipped
    assert challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma) == 0.0


def test_terrible_prediction_is_clipped_to_zero():
    y, naive_mean, naive_sigma = realistic()
    mu = y + 0.005  # 5 sigma_naive off ...
    sigma = np.full_like(y, 1e-6)  # ... and extremely over-confident
    raw = challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma, clip=False)
    assert raw < -1.0
    assert challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma) == 0.0


@pytest.mark.parametrize("factor", [1.5, 2.0, 5.0, 10.0])
def test_overconfident_sigma_penalised_more_than_underconfident(factor):
    # Every residual has magnitude e, so sigma = e is the per-element optimum; compare
    # sigma = e / factor (over-confident) with sigma = e * factor (under-confident).
    y, naive_mean, naive_sigma = realistic()
    e = 5e-5
    mu = y + e
    kw = {"naive_mean": naive_mean, "naive_sigma": naive_sigma, "clip": False}
    over = challenge_score(y, mu, np.full_like(y, e / factor), **kw)
    under = challenge_score(y, mu, np.full_like(y, e * factor), **kw)
    best = challenge_score(y, mu, np.full_like(y, e), **kw)
    assert over < under < best
    # Per element: L(e*f) - L(e/f) = -2 log f + (f^2 - 1/f^2) / 2 > 0.
    gap = -2 * math.log(factor) + (factor**2 - factor**-2) / 2
    assert logpdf(0.0, e, e * factor) - logpdf(0.0, e, e / factor) == pytest.approx(gap, rel=1e-9)


def test_fgs_weight_multiplies_bin0_effect_exactly():
    # With the same sigma_true in every bin and identical columns, perturbing one element
    # of bin 0 changes its normalised score exactly as much as perturbing the same planet
    # in an AIRS bin, so the change in the score is in the ratio of the weights.
    y = np.tile(np.linspace(0.009, 0.013, 5)[:, None], (1, N_BINS))
    naive_mean, naive_sigma = naive_stats(y)
    mu = y + 2e-5
    sigma = np.full_like(y, 3e-5)
    kw = {
        "naive_mean": naive_mean,
        "naive_sigma": naive_sigma,
        "sigma_true_fgs": SIGMA_TRUE_AIRS,
        "sigma_true_airs": SIGMA_TRUE_AIRS,
        "clip": False,
    }
    base = challenge_score(y, mu, sigma, **kw)
    mu_fgs, mu_airs = mu.copy(), mu.copy()
    mu_fgs[2, 0] += 1e-4
    mu_airs[2, 137] += 1e-4
    d_fgs = challenge_score(y, mu_fgs, sigma, **kw) - base
    d_airs = challenge_score(y, mu_airs, sigma, **kw) - base
    assert d_fgs < 0 and d_airs < 0
    assert d_fgs / d_airs == pytest.approx(FGS_WEIGHT, rel=DIFF_RTOL)


def test_fgs_weight_with_default_sigma_true_via_per_bin_scores():
    # score = sum_j w_j per_bin_j / sum_j w_j, so dscore/dper_bin_0 is 57.846 times
    # dscore/dper_bin_j for any AIRS bin j.
    y, naive_mean, naive_sigma = realistic(4, seed=3)
    mu = y + 2e-5
    sigma = np.full_like(y, 3e-5)
    kw = {"naive_mean": naive_mean, "naive_sigma": naive_sigma}
    base_s = challenge_score(y, mu, sigma, clip=False, **kw)
    base_pb = per_bin_scores(y, mu, sigma, **kw)
    slopes = []
    for j in (0, 200):
        mu2 = mu.copy()
        mu2[:, j] += 1e-4
        ds = challenge_score(y, mu2, sigma, clip=False, **kw) - base_s
        dpb = per_bin_scores(y, mu2, sigma, **kw) - base_pb
        assert np.count_nonzero(dpb) == 1 and dpb[j] < 0
        slopes.append(ds / dpb[j])
    assert slopes[0] / slopes[1] == pytest.approx(FGS_WEIGHT, rel=DIFF_RTOL)
    assert slopes[1] == pytest.approx(1.0 / (FGS_WEIGHT + N_BINS - 1), rel=DIFF_RTOL)


def test_score_is_weighted_average_of_per_bin_scores():
    y, naive_mean, naive_sigma = realistic(5, seed=4)
    rng = np.random.default_rng(5)
    mu = np.abs(y + 5e-5 * rng.standard_normal(y.shape))
    sigma = 1e-5 + 1e-4 * rng.random(y.shape)
    kw = {"naive_mean": naive_mean, "naive_sigma": naive_sigma}
    pb = per_bin_scores(y, mu, sigma, **kw)
    weights = np.ones(N_BINS)
    weights[0] = FGS_WEIGHT
    raw = challenge_score(y, mu, sigma, clip=False, **kw)
    assert raw == pytest.approx(np.average(pb, weights=weights), rel=REL_TOL)
    # and fgs_weight=1 is the plain mean of the per-bin scores
    flat = challenge_score(y, mu, sigma, clip=False, fgs_weight=1.0, **kw)
    assert flat == pytest.approx(pb.mean(), rel=REL_TOL)


def test_sigma_zero_is_clipped_not_crashing():
    y, naive_mean, naive_sigma = realistic()
    zeros = np.zeros_like(y)
    kw = {"naive_mean": naive_mean, "naive_sigma": naive_sigma}
    # exact mean with sigma 1e-15 beats sigma_true: raw > 1, clipped to 1
    raw = challenge_score(y, y.copy(), zeros, clip=False, **kw)
    assert math.isfinite(raw) and raw > 1.0
    assert challenge_score(y, y.copy(), zeros, **kw) == 1.0
    # any miss with sigma 1e-15 is catastrophically bad but still finite
    raw_miss = challenge_score(y, y + 1e-6, zeros, clip=False, **kw)
    assert math.isfinite(raw_miss) and raw_miss < 0.0
    assert challenge_score(y, y + 1e-6, zeros, **kw) == 0.0


def test_overflowing_prediction_scores_zero():
    y, naive_mean, naive_sigma = realistic()
    mu = np.full_like(y, 1e300)
    sigma = np.zeros_like(y)
    kw = {"naive_mean": naive_mean, "naive_sigma": naive_sigma}
    assert challenge_score(y, mu, sigma, clip=False, **kw) == -np.inf
    assert challenge_score(y, mu, sigma, **kw) == 0.0


# --------------------------------------------------------------------------- validation


def _valid(n: int = 3):
    y, naive_mean, naive_sigma = realistic(n)
    return y, y.copy(), np.full_like(y, 1e-4), naive_mean, naive_sigma


@pytest.mark.parametrize(
    ("array", "value", "count", "pattern"),
    [
        ("y_true", np.nan, 2, r"y_true contains 2 non-finite"),
        ("mu", np.nan, 1, r"mu contains 1 non-finite"),
        ("sigma", np.nan, 3, r"sigma contains 3 non-finite"),
        ("mu", np.inf, 2, r"mu contains 2 non-finite"),
        ("sigma", -np.inf, 1, r"sigma contains 1 non-finite"),
        ("mu", -1e-6, 4, r"mu contains 4 negative"),
        ("sigma", -1e-6, 2, r"sigma contains 2 negative"),
    ],
)
def test_bad_values_raise_metric_error_naming_array_and_count(array, value, count, pattern):
    y, mu, sigma, naive_mean, naive_sigma = _valid()
    arrays = {"y_true": y, "mu": mu, "sigma": sigma}
    arrays[array].flat[:count] = value
    with pytest.raises(MetricError, match=pattern):
        challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma)
    with pytest.raises(MetricError, match=pattern):
        per_bin_scores(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma)
    with pytest.raises(MetricError, match=pattern):
        score_report(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma)


def test_negative_y_true_is_allowed():
    """A negative label is scored like any other value (no error, no clipping of y)."""
    y, mu, sigma, naive_mean, naive_sigma = _valid()
    y[0, 5] = -1e-5
    got = challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma)
    want = kaggle_reference(y, mu, sigma, naive_mean, naive_sigma)
    assert got == pytest.approx(want, rel=1e-12)
    y[0, 5] = 1e-5  # the sign matters: the score is not computed from |y|
    assert challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma) != got


def test_several_problems_reported_together():
    y, mu, sigma, naive_mean, naive_sigma = _valid()
    mu[0, 0] = np.nan
    sigma[1, :3] = -1.0
    with pytest.raises(MetricError, match=r"mu contains 1 non-finite.*sigma contains 3 negative"):
        challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma)


@pytest.mark.parametrize(
    ("shape_y", "shape_mu", "shape_sigma", "pattern"),
    [
        ((3, 282), (3, 282), (3, 282), r"shape \(n_planets, 283\)"),
        ((283,), (283,), (283,), r"y_true must have shape"),
        ((2, 3, 283), (2, 3, 283), (2, 3, 283), r"must have shape"),
        ((0, 283), (0, 283), (0, 283), r"no rows"),
        ((3, 283), (2, 283), (3, 283), r"shape mismatch: y_true \(3, 283\), mu \(2, 283\)"),
        ((3, 283), (3, 283), (3, 284), r"sigma must have shape"),
    ],
)
def test_wrong_shapes_raise(shape_y, shape_mu, shape_sigma, pattern):
    with pytest.raises(MetricError, match=pattern):
        challenge_score(
            np.full(shape_y, 0.01),
            np.full(shape_mu, 0.01),
            np.full(shape_sigma, 1e-4),
            naive_mean=0.01,
            naive_sigma=0.001,
        )


def test_non_numeric_inputs_raise():
    y, mu, sigma, naive_mean, naive_sigma = _valid()
    kw = {"naive_mean": naive_mean, "naive_sigma": naive_sigma}
    with pytest.raises(MetricError, match="mu must be a real numeric array"):
        challenge_score(y, mu.astype(str), sigma, **kw)
    with pytest.raises(MetricError, match="sigma must be a real numeric array"):
        challenge_score(y, mu, sigma.astype(complex), **kw)
    with pytest.raises(MetricError, match="not a pandas DataFrame"):
        challenge_score(pd.DataFrame(y), mu, sigma, **kw)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"naive_sigma": 0.0}, "naive_sigma must be > 0"),
        ({"naive_sigma": -1.0}, "naive_sigma must be > 0"),
        ({"naive_sigma": float("nan")}, "naive_sigma must be finite"),
        ({"naive_mean": float("inf")}, "naive_mean must be finite"),
        ({"naive_mean": "0.01"}, "naive_mean must be a real number"),
        ({"fgs_weight": 0.0}, "fgs_weight must be > 0"),
        ({"sigma_true_fgs": 0.0}, "sigma_true_fgs must be > 0"),
        ({"sigma_true_airs": float("nan")}, "sigma_true_airs must be finite"),
    ],
)
def test_bad_scalars_raise(kwargs, pattern):
    y, mu, sigma, naive_mean, naive_sigma = _valid()
    kw = {"naive_mean": naive_mean, "naive_sigma": naive_sigma, **kwargs}
    with pytest.raises(MetricError, match=pattern):
        challenge_score(y, mu, sigma, **kw)


def test_degenerate_reference_raises():
    # naive_sigma below sigma_true and y == naive_mean: L_true - L_naive < 0
    y = np.full((2, N_BINS), 0.01)
    with pytest.raises(MetricError, match=r"L_true - L_naive is <= 0 for 566 element"):
        challenge_score(y, y.copy(), np.full_like(y, 1e-4), naive_mean=0.01, naive_sigma=1e-7)


def test_metric_error_is_value_error():
    assert issubclass(MetricError, ValueError)


# --------------------------------------------------------------------------- naive_stats


def test_naive_stats_hand_values():
    mean, std = naive_stats(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert mean == 2.5
    assert std == pytest.approx(math.sqrt(1.25), rel=REL_TOL)  # population std (ddof=0)
    assert isinstance(mean, float) and isinstance(std, float)


@pytest.mark.parametrize(
    ("labels", "pattern"),
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "1 non-finite"),
        (np.array([1.0, np.inf, -np.inf]), "2 non-finite"),
        (np.array([]), "empty"),
        (np.full((3, 4), 0.01), "zero standard deviation"),
        (np.array(["a", "b"]), "real numeric"),
        (pd.DataFrame({"planet_id": [1, 2], "wl_1": [0.1, 0.2]}), "not a pandas DataFrame"),
    ],
)
def test_naive_stats_rejects(labels, pattern):
    with pytest.raises(MetricError, match=pattern):
        naive_stats(labels)


# --------------------------------------------------------------------------- diagnostics


def test_coverage_exact_values():
    # residuals, in units of sigma = 0.25 (all exactly representable): 0, 1, 2, 3, 0.5
    n = 5
    y = np.zeros((n, N_BINS))
    mu = np.zeros((n, N_BINS))
    mu[:, 0] = [0.0, 0.25, 0.5, 0.75, 0.125]  # only bin 0 varies; other bins are exact
    sigma = np.full((n, N_BINS), 0.25)
    total = n * N_BINS
    assert coverage(y, mu, sigma, 1.0) == (total - 2) / total  # 2 and 3 sigma outside
    assert coverage(y, mu, sigma, 2.0) == (total - 1) / total  # boundary 2 sigma is inside
    assert coverage(y, mu, sigma, 0.5) == (total - 3) / total
    assert coverage(y, mu, sigma, 0.0) == (total - 4) / total
    assert coverage(y, mu, sigma, 3.0) == 1.0


def test_coverage_rejects_bad_k():
    y, mu, sigma, _, _ = _valid()
    with pytest.raises(MetricError, match="k must be >= 0"):
        coverage(y, mu, sigma, -1.0)
    with pytest.raises(MetricError, match="k must be finite"):
        coverage(y, mu, sigma, float("nan"))


def test_rmse_ppm_exact_values():
    y = np.zeros((2, N_BINS))
    mu = np.zeros((2, N_BINS))
    mu[:, 0] = [3e-6, 4e-6]
    mu[:, 1:] = 1e-5
    mu[1, 1:] = 3e-5
    out = rmse_ppm(y, mu)
    assert set(out) == {"rmse_fgs_ppm", "rmse_airs_ppm"}
    assert out["rmse_fgs_ppm"] == pytest.approx(math.sqrt((9 + 16) / 2), rel=REL_TOL)
    assert out["rmse_airs_ppm"] == pytest.approx(math.sqrt((100 + 900) / 2), rel=REL_TOL)
    assert rmse_ppm(y, y.copy()) == {"rmse_fgs_ppm": 0.0, "rmse_airs_ppm": 0.0}


def test_score_report_contents_and_json():
    y, naive_mean, naive_sigma = realistic(7, seed=9)
    rng = np.random.default_rng(10)
    mu = np.abs(y + 4e-5 * rng.standard_normal(y.shape))
    sigma = np.full_like(y, 4e-5)
    kw = {"naive_mean": naive_mean, "naive_sigma": naive_sigma}
    report = score_report(y, mu, sigma, **kw)
    assert list(report) == [
        "score",
        "score_unclipped",
        "rmse_fgs_ppm",
        "rmse_airs_ppm",
        "coverage_1sigma",
        "coverage_2sigma",
        "n_planets",
        "per_bin",
    ]
    assert report["score"] == challenge_score(y, mu, sigma, **kw)
    assert report["score"] == min(max(report["score_unclipped"], 0.0), 1.0)
    worse = score_report(y, mu + 3e-4, sigma, **kw)  # far off: clipped to 0, still ordered
    assert worse["score"] == 0.0 and worse["score_unclipped"] < 0.0
    assert score_report(y, mu + 6e-4, sigma, **kw)["score_unclipped"] < worse["score_unclipped"]
    assert report["n_planets"] == 7 and type(report["n_planets"]) is int
    assert report["coverage_1sigma"] == coverage(y, mu, sigma, 1.0)
    assert report["coverage_2sigma"] == coverage(y, mu, sigma, 2.0)
    assert report["rmse_fgs_ppm"] == rmse_ppm(y, mu)["rmse_fgs_ppm"]
    assert len(report["per_bin"]) == N_BINS
    assert all(type(v) is float for v in report["per_bin"])
    for key in ("score", "rmse_fgs_ppm", "rmse_airs_ppm", "coverage_1sigma", "coverage_2sigma"):
        assert type(report[key]) is float
    np.testing.assert_array_equal(report["per_bin"], per_bin_scores(y, mu, sigma, **kw))
    assert json.loads(json.dumps(report, allow_nan=False)) == report


# --------------------------------------------------------------------------- frames


def label_frame(ids, values: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(values, columns=[f"wl_{j}" for j in range(1, N_BINS + 1)])
    df.insert(0, "planet_id", ids)
    return df


def submission_frame(ids, mu: np.ndarray, sigma: np.ndarray) -> pd.DataFrame:
    df = label_frame(ids, mu)
    sig = pd.DataFrame(sigma, columns=[f"sigma_{j}" for j in range(1, N_BINS + 1)])
    return pd.concat([df, sig], axis=1)


def test_frame_to_arrays_label_and_submission():
    y, mu, sigma, _, _ = _valid()
    ids, arr, sig = frame_to_arrays(label_frame([11, 22, 33], y))
    assert ids.tolist() == [11, 22, 33] and sig is None
    np.testing.assert_array_equal(arr, y)
    ids, arr, sig = frame_to_arrays(submission_frame([11, 22, 33], mu, sigma))
    np.testing.assert_array_equal(arr, mu)
    np.testing.assert_array_equal(sig, sigma)
    assert arr.dtype == np.float64 and sig.shape == (3, N_BINS)
    # planet_id as the index (read_csv(..., index_col=0))
    ids2, arr2, sig2 = frame_to_arrays(
        submission_frame([11, 22, 33], mu, sigma).set_index("planet_id")
    )
    assert ids2.tolist() == [11, 22, 33]
    np.testing.assert_array_equal(sig2, sigma)


def test_frame_to_arrays_small_n_bins():
    df = pd.DataFrame(
        {"planet_id": [1], "wl_1": [0.1], "wl_2": [0.2], "sigma_1": [1.0], "sigma_2": [2.0]}
    )
    ids, mu, sigma = frame_to_arrays(df, n_bins=2)
    assert mu.tolist() == [[0.1, 0.2]] and sigma.tolist() == [[1.0, 2.0]]


def test_frame_to_arrays_names_missing_extra_and_order():
    y, mu, sigma, _, _ = _valid()
    df = submission_frame([1, 2, 3], mu, sigma)
    with pytest.raises(MetricError, match=r"missing 1 column\(s\) \['sigma_7'\]"):
        frame_to_arrays(df.drop(columns="sigma_7"))
    with pytest.raises(MetricError, match=r"missing 1 column\(s\) \['planet_id'\]"):
        frame_to_arrays(df.drop(columns="planet_id"))
    with pytest.raises(MetricError, match=r"extra 1 column\(s\) \['wl_284'\]"):
        frame_to_arrays(df.assign(wl_284=0.0))
    cols = list(df.columns)
    cols[1], cols[2] = cols[2], cols[1]
    with pytest.raises(MetricError, match=r"out of order: position 1 is 'wl_2', expected 'wl_1'"):
        frame_to_arrays(df[cols])
    with pytest.raises(MetricError, match="label frame"):
        frame_to_arrays(label_frame([1, 2, 3], y).drop(columns="wl_283"))


def test_frame_to_arrays_rejects_non_numeric():
    y, _, _, _, _ = _valid()
    df = label_frame([1, 2, 3], y)
    df["wl_5"] = ["a", "b", "c"]
    with pytest.raises(MetricError, match=r"wl column\(s\) are not real numbers: \['wl_5'\]"):
        frame_to_arrays(df)
    with pytest.raises(MetricError, match="expected a pandas DataFrame"):
        frame_to_arrays(y)


def test_align_reorders_predictions():
    y, mu, sigma, naive_mean, naive_sigma = _valid()
    mu = mu + np.arange(3)[:, None] * 1e-6  # make the rows distinguishable
    truth = label_frame([10, 20, 30], y)
    pred = submission_frame([10, 20, 30], mu, sigma).iloc[[2, 0, 1]].reset_index(drop=True)
    aligned = align(truth, pred)
    assert aligned.planet_ids.tolist() == [10, 20, 30]
    np.testing.assert_array_equal(aligned.y_true, y)
    np.testing.assert_array_equal(aligned.mu, mu)
    np.testing.assert_array_equal(aligned.sigma, sigma)
    score = challenge_score(
        aligned.y_true, aligned.mu, aligned.sigma, naive_mean=naive_mean, naive_sigma=naive_sigma
    )
    assert 0.0 <= score <= 1.0


def test_align_errors():
    y, mu, sigma, _, _ = _valid()
    truth = label_frame([10, 20, 30], y)
    with pytest.raises(MetricError, match=r"pred_df is missing 1 planet\(s\) \[30\]"):
        align(truth, submission_frame([10, 20, 40], mu, sigma))
    with pytest.raises(MetricError, match=r"pred_df has 1 duplicated planet_id\(s\) \[20\]"):
        align(truth, submission_frame([10, 20, 20], mu, sigma))
    with pytest.raises(MetricError, match=r"truth_df has 1 duplicated planet_id\(s\) \[10\]"):
        align(label_frame([10, 10, 30], y), submission_frame([10, 20, 30], mu, sigma))
    with pytest.raises(MetricError, match="pred_df must be in submission format"):
        align(truth, label_frame([10, 20, 30], mu))
    with pytest.raises(MetricError, match="truth_df must be in label format"):
        align(submission_frame([10, 20, 30], y, sigma), submission_frame([10, 20, 30], mu, sigma))


def test_align_extra_predictions():
    y, mu, sigma, _, _ = _valid()
    truth = label_frame([10, 30], y[:2])
    pred = submission_frame([30, 20, 10], mu, sigma)
    with pytest.raises(MetricError, match=r"pred_df has 1 planet\(s\) not in truth_df \[20\]"):
        align(truth, pred)
    aligned = align(truth, pred, allow_extra=True)
    assert aligned.planet_ids.tolist() == [10, 30]
    np.testing.assert_array_equal(aligned.mu, mu[[2, 0]])


# --------------------------------------------------------------------------- properties

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
nonneg = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False, width=64)
shapes = st.one_of(
    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    st.tuples(st.integers(0, 3), st.just(N_BINS)),
)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _score_or_metric_error(y, mu, sigma, naive_mean, naive_sigma):
    try:
        score = challenge_score(y, mu, sigma, naive_mean=naive_mean, naive_sigma=naive_sigma)
    except MetricError as exc:
        event(f"MetricError: {str(exc)[:30]}")
        return None
    event("scored 0" if score == 0.0 else "scored 1" if score == 1.0 else "scored (0, 1)")
    assert isinstance(score, float)
    assert 0.0 <= score <= 1.0
    return score


@PROPERTY_SETTINGS
@given(data=st.data(), naive_mean=finite, naive_sigma=finite)
def test_property_random_shapes_score_in_unit_interval_or_metric_error(
    data, naive_mean, naive_sigma
):
    y = data.draw(hnp.arrays(np.float64, shapes, elements=finite), label="y")
    mu = data.draw(hnp.arrays(np.float64, st.just(y.shape) | shapes, elements=finite), label="mu")
    sigma = data.draw(
        hnp.arrays(np.float64, st.just(y.shape) | shapes, elements=finite), label="sigma"
    )
    _score_or_metric_error(y, mu, sigma, naive_mean, naive_sigma)


@PROPERTY_SETTINGS
@given(
    data=st.data(),
    n=st.integers(1, 3),
    naive_mean=finite,
    naive_sigma=st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
)
def test_property_valid_shape_any_magnitude(data, n, naive_mean, naive_sigma):
    # Correct shape, non-negative finite values of any magnitude (incl. 0, subnormal,
    # 1e308): a score in [0, 1] or a MetricError, never a numpy warning or another error.
    y = data.draw(hnp.arrays(np.float64, (n, N_BINS), elements=finite), label="y")
    mu = data.draw(hnp.arrays(np.float64, (n, N_BINS), elements=nonneg), label="mu")
    sigma = data.draw(hnp.arrays(np.float64, (n, N_BINS), elements=nonneg), label="sigma")
    _score_or_metric_error(y, mu, sigma, naive_mean, naive_sigma)


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 5),
    log_err=st.floats(-7.0, -2.0),
    log_sigma=st.floats(-7.0, -2.0),
)
def test_property_realistic_inputs_always_score(seed, n, log_err, log_sigma):
    # Realistic magnitudes never raise; the unclipped score is the weighted per-bin mean.
    y, naive_mean, naive_sigma = realistic(n, seed=seed % 1000)
    rng = np.random.default_rng(seed)
    mu = np.abs(y + 10.0**log_err * rng.standard_normal(y.shape))
    sigma = 10.0**log_sigma * (0.5 + rng.random(y.shape))
    kw = {"naive_mean": naive_mean, "naive_sigma": naive_sigma}
    score = _score_or_metric_error(y, mu, sigma, naive_mean, naive_sigma)
    assert score is not None
    raw = challenge_score(y, mu, sigma, clip=False, **kw)
    weights = np.ones(N_BINS)
    weights[0] = FGS_WEIGHT
    pb = per_bin_scores(y, mu, sigma, **kw)
    assert raw == pytest.approx(np.average(pb, weights=weights), rel=1e-9)
    assert score == min(max(raw, 0.0), 1.0)
