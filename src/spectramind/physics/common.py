"""Pieces shared by the white-light fit, the spectral fit and the products: the config, the
transit model on numpy arrays, the white light curves and the linear-algebra helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from spectramind.defaults import schema_defaults
from spectramind.physics.population import FitPrior, broad_prior
from spectramind.physics.transit import transit_light_curve

AIRS_REGRESSORS = ("airs_trace_y", "airs_trace_width", "fgs_centroid_y", "fgs_centroid_x")
FGS_REGRESSORS = ("fgs_centroid_y", "fgs_centroid_x")
INSTRUMENTS = ("FGS1", "AIRS-CH0")


@dataclass(frozen=True)
@schema_defaults("physics")
class FitConfig:
    """Config keys ``physics.*`` (defaults: the schema)."""

    drift_max_order: int
    ramp_tau_h: tuple[float, ...]
    wavelength_degree: int | None  # None: g free per bin
    use_regressors: bool
    broad_sma_frac: float
    broad_inc_deg: float
    broad_ld: float
    broad_dt_h: float
    population: str | None  # the workflow's prior file (None: learned on train)
    min_snr: float
    partial_sigma_scale: float

    def broad_prior(self) -> FitPrior:
        """The broad prior of these widths (:func:`~spectramind.physics.population.broad_prior`)."""
        return broad_prior(self.broad_sma_frac, self.broad_inc_deg, self.broad_ld, self.broad_dt_h)

    @classmethod
    def from_dict(cls, d: Mapping) -> FitConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown physics config keys: {unknown}")
        d = dict(d)
        if "ramp_tau_h" in d:
            d["ramp_tau_h"] = tuple(float(x) for x in d["ramp_tau_h"])
        return cls(**d)


def transit(
    t_h: np.ndarray,
    *,
    t0_h: float,
    period_d: float,
    a_rs: float,
    inc_deg: float,
    k: np.ndarray | float,
    u1: np.ndarray | float,
    u2: np.ndarray | float,
) -> np.ndarray:
    """Relative flux (n_k, n_t) (or (n_t,) for scalar k/u) of the exact transit model."""
    f64 = torch.float64
    k_t, u1_t, u2_t = (torch.as_tensor(np.asarray(v, dtype=float), dtype=f64) for v in (k, u1, u2))
    scalar = k_t.ndim == 0 and u1_t.ndim == 0 and u2_t.ndim == 0
    out = transit_light_curve(
        torch.as_tensor(np.asarray(t_h, dtype=float) / 24.0, dtype=f64),
        t0=torch.tensor(t0_h / 24.0, dtype=f64),
        period=torch.tensor(period_d, dtype=f64),
        a_rs=torch.tensor(a_rs, dtype=f64),
        inc_deg=torch.tensor(inc_deg, dtype=f64),
        rp_rs=k_t.reshape(-1, 1),
        u1=u1_t.reshape(-1, 1),
        u2=u2_t.reshape(-1, 1),
    ).numpy()
    return out[0] if scalar else out


def standardise(x: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-std columns with NaN -> 0 (constant columns -> 0)."""
    x = np.asarray(x, dtype=float)
    mu = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    z = (x - mu) / np.where(sd > 0, sd, 1.0)
    return np.nan_to_num(np.where(sd > 0, z, 0.0))


def weighted_lstsq(
    design: np.ndarray, y: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares: coefficients, covariance (from var), reduced chi^2."""
    w = 1.0 / np.sqrt(var)
    a, b = design * w[:, None], y * w
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    resid = b - a @ coef
    dof = max(len(y) - design.shape[1], 1)
    cov = np.linalg.pinv(a.T @ a)
    return coef, cov, float(resid @ resid / dof)


def sample_times(cube: xr.Dataset, name: str) -> np.ndarray:
    """(n_visits, n_time) mean sample time of each bin for one instrument (bin centres where
    the cube has no such variable or a bin is empty)."""
    centres = np.broadcast_to(cube["time"].values, (cube.sizes["visit"], cube.sizes["time"]))
    if name not in cube:
        return centres.copy()
    t = cube[name].values
    return np.where(np.isfinite(t), t, centres)


def white_light(cube: xr.Dataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """FGS1 and flux-weighted AIRS white light curves (flux, var) each (n_visits, n_time)."""
    f, v = cube["flux"].values, cube["variance"].values
    w = np.nan_to_num(cube["oot_level"].values[:, None, 1:])  # counts: flux weighting
    good = np.isfinite(f[:, :, 1:]) & np.isfinite(v[:, :, 1:])
    ws = np.where(good, w, 0)
    tot = ws.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        airs = np.where(good, f[:, :, 1:], 0).__mul__(ws).sum(axis=2) / tot
        airs_var = (np.where(good, v[:, :, 1:], 0) * ws**2).sum(axis=2) / tot**2
    airs = np.where(tot > 0, airs, np.nan)
    return {"FGS1": (f[:, :, 0], v[:, :, 0]), "AIRS-CH0": (airs, airs_var)}


def regressors(cube: xr.Dataset, names: tuple[str, ...], v: int) -> np.ndarray:
    return standardise(np.stack([cube[n].values[v] for n in names], axis=1))


def instrument_regressors(cube: xr.Dataset, inst: str, v: int, use: bool) -> np.ndarray:
    """The standardised jitter regressors (n_time, n_r) of one instrument and visit (n_r = 0
    when ``use`` is false)."""
    if not use:
        return np.zeros((cube.sizes["time"], 0))
    return regressors(cube, AIRS_REGRESSORS if inst == "AIRS-CH0" else FGS_REGRESSORS, v)
