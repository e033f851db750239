"""Predictions in submission format, the constant baseline, and mu/sigma recalibration."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from spectramind import io
from spectramind.atomic import atomic_write


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


@dataclass(frozen=True)
class Recalibration:
    """sigma' = sqrt((scale * sigma)^2 + floor^2) per instrument; mu' = mu + bias (per bin).

    Fitted on train by maximising the challenge-weighted Gaussian log-likelihood.
    """

    scale_fgs: float = 1.0
    floor_fgs: float = 0.0
    scale_airs: float = 1.0
    floor_airs: float = 0.0
    bias: tuple[float, ...] = ()

    def apply(self, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = np.asarray(mu, dtype=float)
        sigma = np.asarray(sigma, dtype=float)
        out_s = np.empty_like(sigma)
        out_s[:, :1] = np.hypot(self.scale_fgs * sigma[:, :1], self.floor_fgs)
        out_s[:, 1:] = np.hypot(self.scale_airs * sigma[:, 1:], self.floor_airs)
        out_mu = mu + np.asarray(self.bias) if self.bias else mu
        return np.clip(out_mu, 0, None), out_s

    def to_json(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(asdict(self), indent=2)))

    @classmethod
    def from_json(cls, path: str | Path) -> Recalibration:
        d = json.loads(Path(path).read_text())
        return cls(**{**d, "bias": tuple(d.get("bias", ()))})


def _nll(params: np.ndarray, resid: np.ndarray, sigma: np.ndarray) -> float:
    scale, floor = np.exp(params)
    s2 = (scale * sigma) ** 2 + floor**2
    return float(np.mean(0.5 * np.log(s2) + 0.5 * resid**2 / s2))


def _fit_sigma(resid: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    rms = float(np.sqrt(np.mean(resid**2))) + 1e-12
    x0 = np.log([1.0, 0.1 * rms])
    res = minimize(
        _nll,
        x0,
        args=(resid.ravel(), sigma.ravel()),
        method="Nelder-Mead",
        options={"xatol": 1e-6, "fatol": 1e-12, "maxiter": 2000},
    )
    scale, floor = np.exp(res.x)
    return float(scale), float(floor)


def fit_recalibration(
    mu: np.ndarray,
    sigma: np.ndarray,
    y: np.ndarray,
    *,
    mean_bias: bool = False,
    bias_shrinkage: float = 5.0,
) -> Recalibration:
    """Fit :class:`Recalibration` on train predictions ``mu, sigma`` against labels ``y``.

    The mean bias per bin (optional) is the mean train residual shrunk by n / (n + k),
    k = ``bias_shrinkage``; sigma scale and floor are then fitted per instrument on the
    bias-corrected residuals.
    """
    mu, sigma, y = (np.asarray(a, dtype=float) for a in (mu, sigma, y))
    if mu.shape != y.shape or sigma.shape != y.shape or mu.ndim != 2 or len(y) < 2:
        raise PredictionError(
            f"recalibration needs >= 2 train planets with matching shapes, got {mu.shape}, {y.shape}"
        )
    resid = y - mu
    bias: tuple[float, ...] = ()
    if mean_bias:
        n = len(y)
        b = resid.mean(axis=0) * n / (n + bias_shrinkage)
        resid = resid - b
        bias = tuple(float(x) for x in b)
    sf, ff = _fit_sigma(resid[:, :1], sigma[:, :1])
    sa, fa = _fit_sigma(resid[:, 1:], sigma[:, 1:])
    return Recalibration(sf, ff, sa, fa, bias)


__all__ = [
    "PredictionError",
    "Recalibration",
    "constant_baseline",
    "fit_recalibration",
    "submission_frame",
    "write_submission",
]
