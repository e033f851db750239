"""Predictions in submission format and the constant baseline; the mu/sigma recalibration of
the physics predictions is :mod:`spectramind.recalibration` (re-exported here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spectramind import io
from spectramind.atomic import atomic_write
from spectramind.recalibration import (
    Recalibration,
    RecalibrationConfig,
    RecalibrationError,
    fit_recalibration,
)


class PredictionError(ValueError):
    """Predictions that must not be written (non-finite or negative values, wrong shape)."""


def submission_frame(planet_ids: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> pd.DataFrame:
    """planet_id, wl_1..wl_283, sigma_1..sigma_283; refuses NaN/inf/negative values."""
    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
    ids = np.asarray(planet_ids, dtype=np.int64)
    want = (len(ids), io.N_BINS)
    for name, arr in (("mu", mu), ("sigma", sigma)):
        if arr.shape != want:
            raise PredictionError(f"{name} has shape {arr.shape}, expected {want}")
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            rows = ids[np.nonzero(bad.any(axis=1))[0]][:5].tolist()
            raise PredictionError(
                f"{name} has {int(bad.sum())} non-finite or negative values (planets {rows})"
            )
    if len(np.unique(ids)) != len(ids):
        raise PredictionError("duplicated planet_id in predictions")
    df = pd.DataFrame(np.hstack([mu, sigma]), columns=io.WL_COLUMNS + io.SIGMA_COLUMNS)
    df.insert(0, "planet_id", ids)
    return df


def write_submission(df: pd.DataFrame, path: str | Path) -> None:
    """Validate again and write atomically (no half-written CSV carries the final name)."""
    submission_frame(
        df["planet_id"].to_numpy(), df[io.WL_COLUMNS].to_numpy(), df[io.SIGMA_COLUMNS].to_numpy()
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: df.to_csv(tmp, index=False, float_format="%.10g"))


def constant_baseline(train_labels: np.ndarray, n_planets: int) -> tuple[np.ndarray, np.ndarray]:
    """The community baseline: every bin = the mean training depth, one sigma = the rms of
    the training labels about it (the maximum-likelihood constant sigma on train)."""
    y = np.asarray(train_labels, dtype=float)
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise PredictionError("training labels must be non-empty and finite")
    m = float(y.mean())
    s = float(np.sqrt(np.mean((y - m) ** 2)))
    return np.full((n_planets, io.N_BINS), m), np.full((n_planets, io.N_BINS), s)


__all__ = [
    "PredictionError",
    "Recalibration",
    "RecalibrationConfig",
    "RecalibrationError",
    "constant_baseline",
    "fit_recalibration",
    "submission_frame",
    "write_submission",
]
