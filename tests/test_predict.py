"""Tests for :mod:`spectramind.predict`: submission frames, the constant baseline and the
mu/sigma recalibration, on hand-computed cases and synthetic residuals of known scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spectramind import io, metric
from spectramind.predict import (
    PredictionError,
    Recalibration,
    constant_baseline,
    fit_recalibration,
    submission_frame,
    write_submission,
)

N = io.N_BINS


def _arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = np.arange(100, 100 + n)
    return ids, rng.uniform(0.005, 0.03, (n, N)), rng.uniform(1e-5, 1e-4, (n, N))


# --------------------------------------------------------------------------- submission_frame
def test_submission_frame_columns_order_and_values():
    ids, mu, sigma = _arrays(3)
    df = submission_frame(ids, mu, sigma)
    assert list(df.columns) == ["planet_id"] + [f"wl_{i}" for i in range(1, 284)] + [
        f"sigma_{i}" for i in range(1, 284)
    ]
    assert df["planet_id"].dtype == np.int64
    np.testing.assert_array_equal(df["planet_id"], ids)
    np.testing.assert_array_equal(df[io.WL_COLUMNS].to_numpy(), mu)
    np.testing.assert_array_equal(df[io.SIGMA_COLUMNS].to_numpy(), sigma)
    # the frame is what the metric reads
    pid, mu_back, sigma_back = metric.frame_to_arrays(df)
    np.testing.assert_array_equal(mu_back, mu)
    np.testing.assert_array_equal(sigma_back, sigma)


def test_submission_frame_accepts_zero():
    ids, mu, sigma = _arrays(2)
    mu[0, 5] = 0.0
    sigma[1, 7] = 0.0
    df = submission_frame(ids, mu, sigma)
    assert df.loc[0, "wl_6"] == 0.0 and df.loc[1, "sigma_8"] == 0.0


@pytest.mark.parametrize("which", ["mu", "sigma"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1e-9])
def test_submission_frame_refuses_non_finite_or_negative(which, bad):
    ids, mu, sigma = _arrays(3)
    target = mu if which == "mu" else sigma
    target[1, 200] = bad
    with pytest.raises(
        PredictionError, match=rf"{which} has 1 non-finite or negative values \(planets \[101\]\)"
    ):
        submission_frame(ids, mu, sigma)


@pytest.mark.parametrize("shape", [(3, 282), (2, 283), (3, 284), (283,)])
def test_submission_frame_refuses_wrong_shape(shape):
    ids, mu, sigma = _arrays(3)
    with pytest.raises(PredictionError, match="expected \\(3, 283\\)"):
        submission_frame(ids, np.full(shape, 0.01), sigma)
    with pytest.raises(PredictionError, match="sigma has shape"):
        submission_frame(ids, mu, np.full(shape, 1e-4))


def test_submission_frame_refuses_duplicate_ids():
    _, mu, sigma = _arrays(3)
    with pytest.raises(PredictionError, match="duplicated planet_id"):
        submission_frame(np.array([5, 6, 5]), mu, sigma)


def test_write_submission_is_atomic_and_round_trips(tmp_path):
    ids, mu, sigma = _arrays(4)
    path = tmp_path / "sub" / "submission.csv"
    write_submission(submission_frame(ids, mu, sigma), path)
    assert [p.name for p in path.parent.iterdir()] == ["submission.csv"]  # no .part left
    back = pd.read_csv(path)
    assert list(back.columns) == ["planet_id", *io.WL_COLUMNS, *io.SIGMA_COLUMNS]
    np.testing.assert_array_equal(back["planet_id"], ids)
    np.testing.assert_allclose(back[io.WL_COLUMNS].to_numpy(), mu, rtol=1e-9)  # written with %.10g
    np.testing.assert_allclose(back[io.SIGMA_COLUMNS].to_numpy(), sigma, rtol=1e-9)


def test_write_submission_refuses_a_bad_frame_and_keeps_the_old_file(tmp_path):
    ids, mu, sigma = _arrays(2)
    path = tmp_path / "submission.csv"
    write_submission(submission_frame(ids, mu, sigma), path)
    before = path.read_bytes()
    bad = submission_frame(ids, mu, sigma)
    bad.loc[1, "sigma_3"] = np.nan
    with pytest.raises(PredictionError):
        write_submission(bad, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission.csv"]


def test_write_submission_interrupted_leaves_neither_a_final_nor_a_part_file(tmp_path, monkeypatch):
    ids, mu, sigma = _arrays(2)
    df = submission_frame(ids, mu, sigma)

    def half_write(self, path, **kwargs):
        Path(path).write_text("planet_id,wl_1\n1,")  # a partial CSV, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_write)
    with pytest.raises(OSError, match="No space"):
        write_submission(df, tmp_path / "submission.csv")
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.float64, (2, N), elements=st.floats(0, 1, allow_subnormal=False)),
    arrays(np.float64, (2, N), elements=st.floats(0, 1e3, allow_subnormal=False)),
)
def test_submission_csv_round_trip_property(tmp_path_factory, mu, sigma):
    path = tmp_path_factory.mktemp("sub") / "s.csv"
    write_submission(submission_frame(np.array([1, 2]), mu, sigma), path)
    back = pd.read_csv(path)
    np.testing.assert_allclose(back[io.WL_COLUMNS].to_numpy(), mu, rtol=1e-9, atol=0)
    np.testing.assert_allclose(back[io.SIGMA_COLUMNS].to_numpy(), sigma, rtol=1e-9, atol=0)


# --------------------------------------------------------------------------- constant_baseline
def test_constant_baseline_hand_computed():
    labels = np.array([[0.01, 0.02], [0.03, 0.04]])
    mu, sigma = constant_baseline(labels, 3)
    assert mu.shape == sigma.shape == (3, N)
    np.testing.assert_array_equal(mu, 0.025)
    # rms about the mean: sqrt((0.015^2 + 0.005^2 + 0.005^2 + 0.015^2) / 4) = sqrt(1.25e-4)
    np.testing.assert_allclose(sigma, np.sqrt(1.25e-4), rtol=1e-12)
    # the challenge's naive reference is the same pair (population std)
    assert (mu[0, 0], sigma[0, 0]) == pytest.approx(metric.naive_stats(labels), rel=1e-12)


@pytest.mark.parametrize(
    "labels", [np.zeros((0, N)), np.array([[0.01, np.nan]]), np.array([[np.inf]])]
)
def test_constant_baseline_refuses_empty_or_non_finite_labels(labels):
    with pytest.raises(PredictionError, match="non-empty and finite"):
        constant_baseline(labels, 2)


# --------------------------------------------------------------------------- Recalibration
def test_recalibration_apply_hand_computed():
    rc = Recalibration(
        scale_fgs=2.0,
        floor_fgs=0.0,
        scale_airs=1.0,
        floor_airs=4.0,
        bias=(0.5,) + (-1.0,) * (N - 1),
    )
    mu = np.full((2, N), 3.0)
    mu[1, 1] = 0.5  # + bias -1 -> clipped at 0
    sigma = np.full((2, N), 3.0)
    out_mu, out_s = rc.apply(mu, sigma)
    np.testing.assert_array_equal(out_s[:, 0], 6.0)  # hypot(2 * 3, 0)
    np.testing.assert_array_equal(out_s[:, 1:], 5.0)  # hypot(1 * 3, 4)
    np.testing.assert_array_equal(out_mu[:, 0], 3.5)
    np.testing.assert_array_equal(out_mu[0, 1:], 2.0)
    assert out_mu[1, 1] == 0.0
    # inputs untouched
    assert mu[1, 1] == 0.5 and sigma[0, 0] == 3.0


def test_recalibration_identity_and_no_bias():
    mu, sigma = np.full((1, N), 0.01), np.full((1, N), 1e-4)
    out_mu, out_s = Recalibration().apply(mu, sigma)
    np.testing.assert_array_equal(out_mu, mu)
    np.testing.assert_array_equal(out_s, sigma)


@settings(max_examples=40, deadline=None)
@given(
    scale=st.floats(0.1, 10),
    floor=st.floats(0, 1e-3),
    sigma=arrays(np.float64, (3, N), elements=st.floats(0, 1e-2)),
)
def test_recalibrated_sigma_is_at_least_scale_sigma_and_floor(scale, floor, sigma):
    _, out = Recalibration(scale, floor, scale, floor).apply(np.full((3, N), 0.01), sigma)
    assert np.all(out >= scale * sigma * (1 - 1e-12)) and np.all(out >= floor * (1 - 1e-12))
    assert np.all(out <= (scale * sigma + floor) * (1 + 1e-12))  # hypot <= sum


def test_recalibration_json_round_trip(tmp_path):
    rc = Recalibration(1.5, 2e-5, 2.5, 3e-6, tuple(np.linspace(-1e-5, 1e-5, N)))
    path = tmp_path / "recal" / "r.json"
    rc.to_json(path)
    assert Recalibration.from_json(path) == rc
    Recalibration().to_json(path)
    assert Recalibration.from_json(path) == Recalibration()


# --------------------------------------------------------------------------- fit_recalibration
def _residuals(n: int, true_scale: float, floor: float, seed: int):
    """Given sigma log-uniform over 10-300 ppm; truth drawn with sqrt((k sigma)^2 + floor^2)."""
    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.uniform(np.log(1e-5), np.log(3e-4), (n, N)))
    mu = rng.uniform(0.005, 0.03, (n, N))
    y = mu + np.hypot(true_scale * sigma, floor) * rng.normal(size=(n, N))
    return mu, sigma, y


# The ML scale of n Gaussian residuals has relative sd 1 / sqrt(2 n) (scale alone; with a free
# floor a little more): AIRS 400 x 282 = 112800 values -> 0.21 %, FGS1 400 values -> 3.5 %.
# Tolerance: 5 sd (AIRS 1.1 %), 4 sd (FGS1 14 %).
N_PLANETS = 400
AIRS_SCALE_TOL = 5 / np.sqrt(2 * N_PLANETS * (N - 1))
FGS_SCALE_TOL = 4 / np.sqrt(2 * N_PLANETS)


def test_fit_recalibration_recovers_a_known_scale():
    mu, sigma, y = _residuals(N_PLANETS, 2.0, 0.0, seed=1)
    rc = fit_recalibration(mu, sigma, y)
    assert rc.scale_airs == pytest.approx(2.0, rel=AIRS_SCALE_TOL)
    assert rc.scale_fgs == pytest.approx(2.0, rel=FGS_SCALE_TOL)
    # no floor in the truth: the fitted one is small against the smallest true sigma (2e-5);
    # 400 FGS1 values pin it only loosely (measured over 5 seeds: AIRS < 3e-6, FGS1 < 1.6e-5)
    assert rc.floor_airs < 0.25 * 2e-5 and rc.floor_fgs < 2e-5
    assert rc.bias == ()


def test_fit_recalibration_recovers_a_known_floor():
    mu, sigma, y = _residuals(N_PLANETS, 1.0, 5e-5, seed=2)
    rc = fit_recalibration(mu, sigma, y)
    assert rc.scale_airs == pytest.approx(1.0, rel=0.02)
    assert rc.floor_airs == pytest.approx(5e-5, rel=0.03)


def test_fit_recalibration_improves_the_challenge_score():
    mu, sigma, y = _residuals(N_PLANETS, 3.0, 0.0, seed=3)
    rc = fit_recalibration(mu, sigma, y)
    naive = metric.naive_stats(y)
    before = metric.challenge_score(
        y, mu, sigma, naive_mean=naive[0], naive_sigma=naive[1], clip=False
    )
    after = metric.challenge_score(
        y, *rc.apply(mu, sigma), naive_mean=naive[0], naive_sigma=naive[1], clip=False
    )
    assert after > before + 0.1


def test_fit_recalibration_mean_bias_is_the_shrunk_mean_residual():
    rng = np.random.default_rng(4)
    n = 5
    mu = rng.uniform(0.01, 0.02, (n, N))
    sigma = np.full((n, N), 1e-4)
    y = mu + 1e-4 * rng.normal(size=(n, N))
    y[:, 10] += 3e-4
    rc = fit_recalibration(mu, sigma, y, mean_bias=True, bias_shrinkage=5.0)
    expected = (y - mu).mean(axis=0) * n / (n + 5.0)  # n / (n + k) = 0.5
    np.testing.assert_allclose(rc.bias, expected, rtol=1e-12)
    assert rc.bias[10] == pytest.approx(
        1.5e-4, abs=4e-5
    )  # half of 3e-4 (sd of the mean 4.5e-5 x 0.5)
    out_mu, _ = rc.apply(mu, sigma)
    np.testing.assert_allclose(out_mu, mu + expected, rtol=1e-12)


@pytest.mark.parametrize(
    "shapes", [((3, N), (3, N), (2, N)), ((1, N), (1, N), (1, N)), ((N,), (N,), (N,))]
)
def test_fit_recalibration_refuses_bad_shapes(shapes):
    mu, sigma, y = (np.full(s, 0.01) for s in shapes)
    with pytest.raises(PredictionError, match="recalibration needs"):
        fit_recalibration(mu, sigma, y)
