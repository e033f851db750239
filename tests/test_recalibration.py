"""Tests for :mod:`spectramind.recalibration`: the K-fold-chosen, out-of-fold-scored mu/sigma
calibration of the physics predictions, on hand-computed cases and synthetic fits whose true
errors are known (so the oracle recalibration and its score are known)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spectramind import io, metric
from spectramind.recalibration import (
    INSTRUMENTS,
    InstrumentRecal,
    Recalibration,
    RecalibrationConfig,
    RecalibrationError,
    _Data,
    _element_weights,
    _instrument_score,
    _loss,
    _reference,
    feature_names,
    fit_recalibration,
    oof_predictions,
    planet_features,
    planet_folds,
)

N = io.N_BINS
FAST = RecalibrationConfig(folds=4, shrinkage=(1.0, 10.0))
BIAS_FGS, BIAS_AIRS = 30e-6, -20e-6


def _world(n: int, seed: int, *, flagged_scale: float = 1.0):
    """Fits of ``n`` planets: sigma log-uniform per planet (20-200 ppm) times a per-bin shape;
    the true error sd is 1.7 sigma + 50 ppm, the fits biased by BIAS_FGS / BIAS_AIRS; planets
    flagged "partial" (every 4th) have errors ``flagged_scale`` times larger still."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.005, 0.02, (n, 1)) * (1 + 0.05 * np.sin(np.linspace(0, 6, N)))
    sigma = np.exp(rng.uniform(np.log(2e-5), np.log(2e-4), (n, 1))) * np.linspace(1, 2, N)
    flag = np.where(np.arange(n) % 4 == 3, "partial", "ok")
    true_sd = (1.7 * sigma + 50e-6) * np.where(flag == "partial", flagged_scale, 1.0)[:, None]
    bias = np.full(N, BIAS_AIRS)
    bias[0] = BIAS_FGS
    mu = y + bias + true_sd * rng.standard_normal((n, N))
    oracle = (np.clip(mu - bias, 0, None), true_sd)
    return mu, sigma, y, {"flag": flag}, oracle


def _score(y, mu, sigma, naive):
    return metric.challenge_score(
        y, mu, sigma, naive_mean=naive[0], naive_sigma=naive[1], clip=False
    )


# --------------------------------------------------------------------------- apply, hand-computed
def test_instrument_apply_hand_computed():
    r = InstrumentRecal(
        model="scale+mean+shape",
        a=np.log(2.0),
        b=1.0,
        psi=0.75,
        e=0.5,
        f=1.0,
        coef=(np.log(3.0),),
        features=("fgs.x",),
        feature_mean=(1.0,),
        feature_sd=(2.0,),
        log_sigma_ref=np.log(2.0),
        mu_ref=0.5,
        mu_sd=0.25,
    )
    mu, sigma = np.array([[1.0], [0.0]]), np.array([[4.0], [2.0]])
    x = r.design({"fgs.x": np.array([3.0, np.nan])}, 2)
    np.testing.assert_array_equal(x, [[1.0], [0.0]])  # (3 - 1) / 2; NaN -> the train mean
    out_mu, out_s = r.apply(mu, sigma, x)
    # planet 0: t = log 2 + (log 4 - log 2) + log 3 -> sigma e^t = 4 * 2 * 2 * 3 = 48; floor^2 3
    assert out_s[0, 0] == pytest.approx(np.sqrt(48.0**2 + 0.75 * 4.0))
    # planet 1: t = log 2 + 0 + 0 -> 4; mu' = 0 + 2 (1 + 0.5 (0 - 0.5) / 0.25) = 0
    assert out_s[1, 0] == pytest.approx(np.sqrt(16.0 + 3.0))
    assert out_mu[0, 0] == pytest.approx(1.0 + 2.0 * (1.0 + 0.5 * 0.5 / 0.25))
    assert out_mu[1, 0] == pytest.approx(0.0)


def test_apply_does_not_extrapolate_beyond_the_fitting_range():
    """A planet whose sigma (or feature) lies outside the train range is corrected as at the
    range's edge: sigma' grows linearly in sigma there, not as sigma^(1 + b)."""
    r = InstrumentRecal(
        model="scale+shape",
        a=0.0,
        b=1.0,
        coef=(1.0,),
        features=("fgs.x",),
        feature_mean=(0.0,),
        feature_sd=(1.0,),
        log_sigma_ref=0.0,
        log_sigma_range=(-1.0, 1.0),
        feature_range=((-2.0, 2.0),),
    )
    e = np.e
    sigma = np.array([[e], [10 * e], [1.0]])
    x = r.design({"fgs.x": np.array([0.0, 0.0, 7.0])}, 3)
    np.testing.assert_array_equal(x, [[0.0], [0.0], [2.0]])  # clamped to the fitting range
    _, out = r.apply(np.zeros((3, 1)), sigma, x)
    assert out[0, 0] == pytest.approx(e * e)  # at the edge: sigma e^(b u) = e * e
    assert out[1, 0] == pytest.approx(10 * e * e)  # beyond it: linear, not (10 e)^2
    assert out[2, 0] == pytest.approx(e**2)  # feature clamped at 2: e^(0 + 2)
    old = replace(r, log_sigma_range=None, feature_range=())  # a file without the ranges
    assert old.apply(np.zeros((3, 1)), sigma, old.design({"fgs.x": np.zeros(3)}, 3))[1][
        1, 0
    ] == pytest.approx((10 * e) ** 2)


def test_identity_is_the_default_and_leaves_the_predictions():
    _, mu, sigma = (None, *np.random.default_rng(0).uniform(1e-5, 0.02, (2, 3, N)))
    out_mu, out_s = Recalibration().apply(mu, sigma)
    np.testing.assert_array_equal(out_mu, mu)
    np.testing.assert_array_equal(out_s, sigma)


def test_a_missing_feature_is_a_clear_error():
    r = Recalibration(
        fgs=InstrumentRecal(
            model="scale+shape",
            coef=(1.0,),
            features=("fgs.u1",),
            feature_mean=(0.0,),
            feature_sd=(1.0,),
        )
    )
    with pytest.raises(RecalibrationError, match="fgs.u1"):
        r.apply(np.full((2, N), 0.01), np.full((2, N), 1e-4), {"flag": np.array(["ok", "ok"])})


# --------------------------------------------------------------------------- objective
def test_instrument_scores_add_up_to_the_challenge_score():
    mu, sigma, y, _, _ = _world(7, seed=1)
    naive = metric.naive_stats(y)
    total = _score(y, mu, sigma, naive)
    w = {"fgs": metric.FGS_WEIGHT, "airs": N - 1.0}
    parts = {
        g: _instrument_score(y[:, sl], mu[:, sl], sigma[:, sl], sl, naive) * w[g]
        for g, sl in INSTRUMENTS.items()
    }
    assert sum(parts.values()) / sum(w.values()) == pytest.approx(total, rel=1e-12)


def test_loss_gradient_matches_finite_differences():
    mu, sigma, y, table, _ = _world(6, seed=2)
    table = planet_features(mu, sigma, table)
    sl = INSTRUMENTS["airs"]
    names = feature_names(table, "airs")
    from spectramind.recalibration import _raw_features

    ref = _reference(mu[:, sl], sigma[:, sl], names, _raw_features(table, names, 6))
    data = _Data(
        mu[:, sl],
        sigma[:, sl],
        y[:, sl],
        ref.design(table, 6),
        _element_weights(y[:, sl], sl, metric.naive_stats(y)),
    )
    active = ("a", "psi", "e", "f", "b", "d")
    theta = np.array([0.3, 0.5, 0.2, -0.4, 0.1] + [0.2] * data.x.shape[1])
    h = np.linspace(0.5, 2.0, len(theta))
    _, grad = _loss(theta, active, ref, data, 0.1, h)
    eps = 1e-6
    num = [
        (
            _loss(theta + eps * np.eye(len(theta))[i], active, ref, data, 0.1, h)[0]
            - _loss(theta - eps * np.eye(len(theta))[i], active, ref, data, 0.1, h)[0]
        )
        / (2 * eps)
        for i in range(len(theta))
    ]
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-9)


# --------------------------------------------------------------------------- folds
def test_planet_folds_partition_every_planet_once_and_cap_k():
    parts = planet_folds(7, 5, seed=3)
    assert len(parts) == 5 and sorted(np.concatenate(parts).tolist()) == list(range(7))
    assert [len(p) for p in planet_folds(3, 5, seed=0)] == [1, 1, 1]  # K capped by n
    assert planet_folds(1, 5, seed=0) == []
    assert all(np.array_equal(a, b) for a, b in zip(parts, planet_folds(7, 5, seed=3), strict=True))


def test_config_models_follow_the_switches():
    assert RecalibrationConfig().models() == ["identity", "scale", "scale+mean", "scale+mean+shape"]
    assert RecalibrationConfig(mean=False).models() == ["identity", "scale", "scale+shape"]
    assert RecalibrationConfig(sigma=False).models() == ["identity", "mean"]
    assert RecalibrationConfig(sigma=False, mean=False).models() == ["identity"]
    with pytest.raises(ValueError, match="bias_shrinkage"):
        RecalibrationConfig.from_dict({"bias_shrinkage": 5.0})


# --------------------------------------------------------------------------- the fit
@pytest.fixture(scope="module")
def fitted():
    mu, sigma, y, table, oracle = _world(32, seed=4)
    return mu, sigma, y, table, oracle, fit_recalibration(mu, sigma, y, table, FAST)


def test_kfold_fit_is_close_to_the_oracle_and_better_than_raw(fitted):
    """True errors 1.7 sigma + 50 ppm and a bias: out of fold the recalibration recovers most
    of the oracle's score (measured: oracle 0.4165, out of fold 0.4167, raw 0.183)."""
    mu, sigma, y, table, oracle, r = fitted
    naive = metric.naive_stats(y)
    raw, best = _score(y, mu, sigma, naive), _score(y, *oracle, naive)
    assert r.raw_score == pytest.approx(raw, rel=1e-12)
    assert r.oof_score is not None and r.oof_score > raw + 0.2
    assert r.oof_score > best - 0.03
    # the chosen models correct sigma and mean, the bias is found
    assert r.fgs.model != "identity" and "mean" in r.airs.model
    shift = r.apply(mu, sigma, table)[0] - mu
    assert shift[:, 1:].mean() == pytest.approx(-BIAS_AIRS, abs=10e-6)  # measured 13 ppm
    # a fresh draw of the same world, recalibrated with the train fit
    mu2, sigma2, y2, table2, oracle2 = _world(32, seed=5)
    test_score = _score(y2, *r.apply(mu2, sigma2, table2), naive)
    assert test_score > _score(y2, mu2, sigma2, naive) + 0.2
    assert test_score > _score(y2, *oracle2, naive) - 0.03
    # every candidate was scored, per instrument
    assert {(g, m) for g, m, _, _ in r.cv} == {(g, m) for g in INSTRUMENTS for m in FAST.models()}


def test_the_out_of_fold_score_is_the_score_of_the_out_of_fold_predictions(fitted):
    mu, sigma, y, table, _, r = fitted
    o_mu, o_s = oof_predictions(mu, sigma, y, planet_features(mu, sigma, table), FAST)
    assert r.oof_score == pytest.approx(_score(y, o_mu, o_s, metric.naive_stats(y)), rel=1e-12)


def test_kfold_never_uses_a_planets_own_labels_to_calibrate_it():
    mu, sigma, y, table, _ = _world(16, seed=6)
    table = planet_features(mu, sigma, table)
    cfg = RecalibrationConfig(folds=4, shrinkage=(3.0,))
    o_mu, o_s = oof_predictions(mu, sigma, y, table, cfg)
    held = planet_folds(16, 4, seed=cfg.seed)[0]
    y2 = y.copy()
    y2[held] = y2[held] * 1.1 + 5e-4  # the held fold's labels far off
    p_mu, p_s = oof_predictions(mu, sigma, y2, table, cfg)
    np.testing.assert_array_equal(p_mu[held], o_mu[held])
    np.testing.assert_array_equal(p_s[held], o_s[held])
    others = np.setdiff1d(np.arange(16), held)
    assert not np.array_equal(p_s[others], o_s[others])  # they did use those labels


def test_apply_of_the_saved_json_reproduces_the_fitted_predictions(fitted, tmp_path):
    mu, sigma, _, table, _, r = fitted
    path = tmp_path / "recal" / "physics.json"
    r.to_json(path)
    back = Recalibration.from_json(path)
    assert back == r
    a, b = r.apply(mu, sigma, table), back.apply(mu, sigma, table)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], sigma)


def test_the_features_earn_their_place_when_the_errors_depend_on_them():
    """Flagged planets have 3x larger errors: the feature model is chosen for AIRS and beats
    the same K-fold without features, out of fold."""
    mu, sigma, y, table, _ = _world(32, seed=7, flagged_scale=3.0)
    with_f = fit_recalibration(mu, sigma, y, table, FAST)
    without = fit_recalibration(
        mu, sigma, y, table, RecalibrationConfig(features=False, folds=4, shrinkage=(1.0, 10.0))
    )
    assert with_f.airs.model == "scale+mean+shape" and "flag=partial" in with_f.airs.features
    coef = dict(zip(with_f.airs.features, with_f.airs.coef, strict=True))["flag=partial"]
    assert coef > 0  # flagged planets' sigma widened
    assert with_f.oof_score > without.oof_score + 0.02


def test_too_few_planets_is_the_identity_with_the_reason():
    mu, sigma, y, table, _ = _world(3, seed=8)
    r = fit_recalibration(mu, sigma, y, table, FAST)
    assert r.fgs.model == r.airs.model == "identity" and "min_planets" in r.reason
    assert r.oof_score == r.raw_score  # the raw fits never saw a label
    np.testing.assert_array_equal(r.apply(mu, sigma, table)[1], sigma)


@pytest.mark.parametrize(
    "shapes", [((3, N), (3, N), (2, N)), ((1, N), (1, N), (1, N)), ((N,), (N,), (N,))]
)
def test_fit_refuses_bad_shapes(shapes):
    mu, sigma, y = (np.full(s, 0.01) for s in shapes)
    with pytest.raises(RecalibrationError, match="recalibration needs"):
        fit_recalibration(mu, sigma, y)
