"""Tests for :mod:`spectramind.predict`: submission frames and the constant baseline, on
hand-computed cases (the recalibration: tests/test_recalibration.py)."""

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
    constant_baseline,
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
