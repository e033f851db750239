"""Tests for :mod:`spectramind.workflow_io`: label lookup, physics products, scoring."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectramind import io, metric
from spectramind.calibration.products import write_netcdf
from spectramind.physics.products import PlanetFit, fit_dataset
from spectramind.predict import constant_baseline, submission_frame, write_submission
from spectramind.workflow_io import (
    labels_array,
    labels_path,
    load_physics,
    load_physics_features,
    score_predictions,
    score_table,
    truth_for,
)

N = io.N_BINS


def write_labels(path, ids, values) -> None:
    df = pd.DataFrame(values, columns=io.WL_COLUMNS)
    df.insert(0, "planet_id", ids)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, float_format="%.17g")


@pytest.fixture
def data_root(tmp_path):
    """A data root with train.csv (ids 30, 10, 20) and test_truth.csv (ids 7, 8)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    train = 0.0147 + 0.011 * rng.standard_normal((3, 1)) + 1e-4 * rng.standard_normal((3, N))
    test = 0.0147 + 0.011 * rng.standard_normal((2, 1)) + 1e-4 * rng.standard_normal((2, N))
    write_labels(root / "train.csv", [30, 10, 20], train)
    write_labels(root / "test_truth.csv", [7, 8], test)
    return root, {30: train[0], 10: train[1], 20: train[2]}, {7: test[0], 8: test[1]}


def test_labels_path_in_a_root_or_given_directly(data_root):
    root, _, _ = data_root
    assert labels_path(root, "train") == root / "train.csv"
    assert labels_path(root, "test") == root / "test_truth.csv"
    assert labels_path(root / "train.csv", "test") == root / "train.csv"  # a file is used as given


def test_labels_array_in_file_order(data_root):
    root, train, _ = data_root
    np.testing.assert_array_equal(
        labels_array(root, "train"), np.vstack([train[30], train[10], train[20]])
    )


def test_truth_for_follows_the_requested_order(data_root):
    root, train, test = data_root
    np.testing.assert_array_equal(
        truth_for(root, "train", [20, 30, 10]), np.vstack([train[20], train[30], train[10]])
    )
    np.testing.assert_array_equal(
        truth_for(root, "train", np.array([10], dtype=np.int64)), train[10][None]
    )
    np.testing.assert_array_equal(truth_for(root, "test", [8, 7]), np.vstack([test[8], test[7]]))


def test_truth_for_a_missing_planet_is_a_data_error(data_root):
    root, _, _ = data_root
    with pytest.raises(io.DataError, match=r"no labels for planets \[99, 7\]") as err:
        truth_for(root, "train", [10, 99, 7])
    assert err.value.path == root / "train.csv"


def test_load_physics_reads_ids_depth_and_sigma_in_file_order(tmp_path):
    cube = xr.Dataset(
        coords={"wavelength": np.linspace(0.7, 3.9, N), "time": np.arange(3.0), "visit": [0]}
    )
    files, expected = [], []
    for pid, d in ((42, 0.01), (7, 0.02)):
        fit = PlanetFit(np.full(N, d), np.full(N, d / 100), np.ones(N), "failed", None)
        path = tmp_path / f"{pid}.nc"
        write_netcdf(fit_dataset(pid, cube, fit), path)
        files.append(path)
        expected.append(fit)
    ids, mu, sigma = load_physics(files)
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [42, 7])
    np.testing.assert_array_equal(mu, np.vstack([f.depth for f in expected]))
    np.testing.assert_array_equal(sigma, np.vstack([f.sigma for f in expected]))
    with pytest.raises(ValueError, match="no physics fits"):
        load_physics([])


def _physics_file(path, pid, flag, chi2, **attrs):
    ds = xr.Dataset(
        {
            "depth": (("wavelength",), np.full(N, 0.01)),
            "depth_sigma": (("wavelength",), np.full(N, 1e-4)),
            "chi2_red": (("wavelength",), chi2),
        },
        coords={"wavelength": np.linspace(0.7, 3.9, N)},
        attrs={"planet_id": pid, "flag": flag, **attrs},
    )
    write_netcdf(ds, path)
    return path


def test_load_physics_features_reads_flags_chi2_and_limb_darkening(tmp_path):
    chi2 = np.full(N, 4.0)
    chi2[0] = 2.0
    chi2[5:10] = np.nan  # a bin without a fit does not enter the median
    a = _physics_file(tmp_path / "a.nc", 1, "ok", chi2, u1_fgs=0.3, u1_airs=0.1, u2_airs=0.2)
    b = _physics_file(tmp_path / "b.nc", 2, "partial", np.full(N, np.nan))
    f = load_physics_features([a, b])
    assert f["flag"].tolist() == ["ok", "partial"]
    assert f["fgs.log_chi2"][0] == pytest.approx(np.log(2.0))
    assert f["airs.log_chi2"][0] == pytest.approx(np.log(4.0))
    assert np.isnan(f["fgs.log_chi2"][1]) and np.isnan(f["airs.log_chi2"][1])
    assert f["fgs.u1"].tolist()[0] == 0.3 and np.isnan(f["fgs.u1"][1])  # b lacks it: NaN
    assert f["airs.u2"][0] == 0.2 and "fgs.u2" not in f
    with pytest.raises(ValueError, match="no physics fits"):
        load_physics_features([])


def test_score_predictions_exact_cases(data_root, tmp_path):
    """Perfect mu with sigma_true scores 1; the naive constant (train mean/std) scores 0."""
    root, train, test = data_root
    ids = np.array([8, 7])  # any row order
    y = np.vstack([test[8], test[7]])
    sigma_true = np.full((2, N), metric.SIGMA_TRUE_AIRS)
    sigma_true[:, 0] = metric.SIGMA_TRUE_FGS
    perfect = tmp_path / "perfect.csv"
    write_submission(submission_frame(ids, y, sigma_true), perfect)
    report = score_predictions(perfect, root, "test", root)
    # the CSV keeps 10 significant digits: |y - mu| <~ 5e-13, 1e-7 of sigma_true -> s = 1 - O(1e-14)
    assert report["score"] == pytest.approx(1.0, abs=1e-9)
    assert report["n_planets"] == 2 and report["coverage_1sigma"] == 1.0

    naive = tmp_path / "naive.csv"
    mu0, s0 = constant_baseline(np.vstack(list(train.values())), 2)
    write_submission(submission_frame(ids, mu0, s0), naive)
    report = score_predictions(naive, root, "test", root / "train.csv")
    assert report["score"] == pytest.approx(0.0, abs=1e-6)
    assert len(report["per_bin"]) == N


def test_score_predictions_refuses_a_missing_planet(data_root, tmp_path):
    root, _, test = data_root
    path = tmp_path / "one.csv"
    write_submission(submission_frame([7], test[7][None], np.full((1, N), 1e-4)), path)
    with pytest.raises(metric.MetricError, match="missing 1 planet"):
        score_predictions(path, root, "test", root)


def test_score_table_rows_sorted_by_split_then_method(tmp_path):
    keys = (
        "score",
        "rmse_fgs_ppm",
        "rmse_airs_ppm",
        "coverage_1sigma",
        "coverage_2sigma",
        "n_planets",
    )
    files = []
    for i, (method, split) in enumerate(
        [("physics", "test"), ("constant", "train"), ("constant", "test"), ("model", "test")]
    ):
        d = {
            "method": method,
            "split": split,
            **{k: i + j / 10 for j, k in enumerate(keys)},
            "per_bin": [0.0] * N,
        }
        d["n_planets"] = 10 + i
        path = tmp_path / f"{method}_{split}.json"
        path.write_text(json.dumps(d))
        files.append(path)
    table = score_table(files)
    assert list(table.columns) == ["method", "split", *keys]
    assert list(zip(table["split"], table["method"], strict=True)) == [
        ("test", "constant"),
        ("test", "model"),
        ("test", "physics"),
        ("train", "constant"),
    ]
    assert table["score"].tolist() == [2.0, 3.0, 0.0, 1.0]
    assert table["n_planets"].tolist() == [12, 13, 10, 11]
    assert list(table.index) == [0, 1, 2, 3]


def test_score_table_names_a_missing_key(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"method": "m", "split": "test", "score": 0.5}))
    with pytest.raises(KeyError, match="rmse_fgs_ppm"):
        score_table([path])
