"""Calibration of the physics ``mu`` and ``sigma`` on train, chosen and reported out of fold.

Per instrument ``g`` (FGS1: bin 0; AIRS-CH0: bins 1..282), planet ``i``, bin ``j``::

    t_ij       = a + b (log sigma_ij - log s_g) + sum_k d_k x_ik
    sigma'^2   = sigma_ij^2 exp(2 t_ij) + psi s_g^2                 (psi >= 0: a floor)
    mu'        = max(mu_ij + s_g (f + e (mu_ij - m_g) / v_g), 0)

``s_g`` is the median train sigma, ``m_g`` / ``v_g`` the mean / sd of the train ``mu``, ``x_ik``
the planet's standardised features (log S/N of the fit, log reduced chi-square, limb darkening,
one indicator per fit flag other than ``ok``; :func:`feature_names`). ``theta = 0`` is the
identity. A fit maximises the instrument's mean element score of the challenge metric
(``r_ij = (L_pred - L_naive) / (L_true - L_naive)``, naive statistics of the fitting labels)
minus ``(lambda / n) |theta|^2``: ``lambda`` pseudo-planets of shrinkage to the identity.

Models, simplest first: ``identity``; ``scale`` (a, psi); ``scale+mean`` (+ e, f);
``scale+mean+shape`` (+ b, d). :func:`fit_recalibration` chooses the model and ``lambda`` per
instrument by K-fold over planets (the instruments' scores add, so choosing each maximises the
sum), refits the choice on every train planet, and reports the *nested* out-of-fold challenge
score: each fold's planets predicted by the whole procedure (choice included) run on the others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from spectramind import metric
from spectramind.atomic import atomic_write
from spectramind.defaults import schema_defaults

log = logging.getLogger(__name__)

#: the two instruments and their bins
INSTRUMENTS: dict[str, slice] = {"fgs": slice(0, 1), "airs": slice(1, None)}
#: parameter groups of each model, simplest first
MODELS: dict[str, tuple[str, ...]] = {
    "identity": (),
    "scale": ("a", "psi"),
    "mean": ("e", "f"),
    "scale+mean": ("a", "psi", "e", "f"),
    "scale+shape": ("a", "psi", "b", "d"),
    "scale+mean+shape": ("a", "psi", "e", "f", "b", "d"),
}
_SCALARS = ("a", "b", "psi", "e", "f")
_BOUNDS = {"a": (-5.0, 5.0), "b": (-3.0, 3.0), "psi": (0.0, 1e4), "e": (-20.0, 20.0)}
_BOUNDS["f"] = _BOUNDS["e"]
_COEF_BOUND = (-5.0, 5.0)
#: S/N below this is clipped before the log (a failed or zero-depth fit)
_MIN_SNR = 1e-3


class RecalibrationError(ValueError):
    """Inputs a recalibration cannot be fitted on or applied to (shapes, missing features)."""


@dataclass(frozen=True)
@schema_defaults("recalibration")
class RecalibrationConfig:
    """Config keys ``recalibration.*`` (defaults: the schema)."""

    sigma: bool
    mean: bool
    features: bool
    folds: int
    shrinkage: tuple[float, ...]
    min_planets: int
    seed: int
    file: str | None  # the workflow's given recalibration (None: learned on train)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RecalibrationConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown recalibration config keys: {unknown}")
        kw: dict[str, Any] = dict(d)
        if "shrinkage" in kw:
            kw["shrinkage"] = tuple(float(x) for x in kw["shrinkage"])
        return cls(**kw)

    def models(self) -> list[str]:
        """The candidate models this config allows (identity always)."""
        if not self.sigma:
            return ["identity", "mean"] if self.mean else ["identity"]
        out = ["identity", "scale"] + (["scale+mean"] if self.mean else [])
        shape = "scale+mean+shape" if self.mean else "scale+shape"
        return out + [shape]


# --------------------------------------------------------------------------- features
def planet_features(
    mu: np.ndarray, sigma: np.ndarray, table: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """The per-planet feature table: ``table`` (from the physics products: ``flag`` strings and
    numeric ``fgs.*`` / ``airs.*`` columns) plus each instrument's ``log_snr``, the log of the
    median depth over the median sigma of its bins (computed from the predictions)."""
    out = {k: np.asarray(v) for k, v in (table or {}).items()}
    for g, sl in INSTRUMENTS.items():
        m = np.median(np.clip(mu[:, sl], 0, None), axis=1)
        s = np.maximum(np.median(sigma[:, sl], axis=1), metric.SIGMA_FLOOR)
        out[f"{g}.log_snr"] = np.log(np.maximum(m / s, _MIN_SNR))
    n = len(mu)
    for k, v in out.items():
        if v.shape != (n,):
            raise RecalibrationError(f"feature {k!r} has shape {v.shape}, expected ({n},)")
    return out


def feature_names(table: Mapping[str, np.ndarray], instrument: str) -> list[str]:
    """Features of ``instrument`` in ``table``: its numeric columns, then ``flag=<value>`` for
    every flag value other than ``ok`` present."""
    names = sorted(k for k in table if k.startswith(f"{instrument}."))
    if "flag" in table:
        names += [f"flag={v}" for v in sorted(set(map(str, table["flag"]))) if v != "ok"]
    return names


def _raw_features(table: Mapping[str, np.ndarray], names: Sequence[str], n: int) -> np.ndarray:
    cols = []
    for name in names:
        key = "flag" if name.startswith("flag=") else name
        if key not in table:
            raise RecalibrationError(f"the recalibration needs feature {key!r}, not given")
        v = np.asarray(table[key])
        if name.startswith("flag="):
            cols.append((v.astype(str) == name[5:]).astype(float))
        else:
            cols.append(v.astype(float))
    return np.column_stack(cols) if cols else np.zeros((n, 0))


# --------------------------------------------------------------------------- one instrument
def _rows_dot(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``x @ c`` without BLAS: the matrices are tiny, and a threaded BLAS on a busy machine
    costs 50x more than the product (measured: an FGS1 fit 0.9 s instead of 0.016 s)."""
    return np.sum(x * c, axis=1) if x.shape[1] else np.zeros(len(x))


@dataclass(frozen=True)
class InstrumentRecal:
    """One instrument's correction (see the module docstring); the defaults are the identity."""

    model: str = "identity"
    shrinkage: float = 0.0
    a: float = 0.0
    b: float = 0.0
    psi: float = 0.0
    e: float = 0.0
    f: float = 0.0
    coef: tuple[float, ...] = ()
    features: tuple[str, ...] = ()
    feature_mean: tuple[float, ...] = ()
    feature_sd: tuple[float, ...] = ()
    log_sigma_ref: float = 0.0
    mu_ref: float = 0.0
    mu_sd: float = 1.0
    #: the range of log sigma - log_sigma_ref and of each standardised feature over the
    #: fitting planets: a planet outside it is corrected as at the nearest edge (the fitted
    #: powers are not extrapolated); None / () in files written before the ranges: no clamp
    log_sigma_range: tuple[float, float] | None = None
    feature_range: tuple[tuple[float, float], ...] = ()

    def design(self, table: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """Standardised features (n, K), clamped to the fitting range; a missing value is the
        train mean (0)."""
        x = _raw_features(table, self.features, n)
        z = (x - np.asarray(self.feature_mean)) / np.asarray(self.feature_sd)
        if self.feature_range:
            lo, hi = np.asarray(self.feature_range, dtype=float).T
            z = np.clip(z, lo, hi)
        return np.where(np.isfinite(z), z, 0.0)

    def apply(
        self, mu: np.ndarray, sigma: np.ndarray, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Corrected ``mu, sigma`` of this instrument's bins (n, m), ``x = design(...)``."""
        if self.model == "identity":
            return mu.copy(), sigma.copy()
        s_ref = np.exp(self.log_sigma_ref)
        u = np.log(np.maximum(sigma, metric.SIGMA_FLOOR)) - self.log_sigma_ref
        if self.log_sigma_range is not None:
            u = np.clip(u, *self.log_sigma_range)
        t = self.a + self.b * u
        if self.coef:
            t = t + _rows_dot(x, np.asarray(self.coef))[:, None]
        s2 = sigma**2 * np.exp(2 * t) + self.psi * s_ref**2
        m = mu + s_ref * (self.f + self.e * (mu - self.mu_ref) / self.mu_sd)
        return np.clip(m, 0, None), np.sqrt(s2)


@dataclass
class _Data:
    """One instrument's fitting arrays; ``w`` = 1 / (L_true - L_naive) / n_elements."""

    mu: np.ndarray
    sigma: np.ndarray
    y: np.ndarray
    x: np.ndarray
    w: np.ndarray


def _element_weights(y: np.ndarray, sl: slice, naive: tuple[float, float]) -> np.ndarray:
    sigma_true = metric.SIGMA_TRUE_FGS if sl.start == 0 and sl.stop == 1 else metric.SIGMA_TRUE_AIRS
    l_true = metric.gaussian_log_likelihood(y, y, sigma_true)
    l_naive = metric.gaussian_log_likelihood(y, naive[0], naive[1])
    return 1.0 / (l_true - l_naive) / y.size


def _unpack(theta: np.ndarray, active: Sequence[str], k: int) -> tuple[dict, np.ndarray]:
    p = dict.fromkeys(_SCALARS, 0.0)
    i = 0
    for name in active:
        if name == "d":
            continue
        p[name] = theta[i]
        i += 1
    d = theta[i : i + k] if "d" in active else np.zeros(k)
    return p, d


def _fisher(active: Sequence[str], ref: InstrumentRecal, data: _Data) -> np.ndarray:
    """Diagonal of the Fisher information of the instrument score at the identity, per active
    parameter: the shrinkage ``(lambda / n) sum_k h_k theta_k^2`` is then worth ``lambda``
    planets of evidence for every parameter, whatever its units."""
    s2, sr2 = data.sigma**2, np.exp(2 * ref.log_sigma_ref)
    u = np.log(np.maximum(data.sigma, metric.SIGMA_FLOOR)) - ref.log_sigma_ref
    mv = (data.mu - ref.mu_ref) / ref.mu_sd
    w = data.w
    h = {
        "a": 2 * w.sum(),
        "b": 2 * (w * u**2).sum(),
        "psi": (w * sr2**2 / (2 * s2**2)).sum(),
        "e": (w * sr2 * mv**2 / s2).sum(),
        "f": (w * sr2 / s2).sum(),
    }
    out = [h[n] for n in active if n != "d"]
    if "d" in active:
        out += list(2 * np.sum(data.x**2 * w.sum(axis=1)[:, None], axis=0))
    arr = np.asarray(out, dtype=float)
    return np.maximum(arr, 1e-12 * arr.max()) if arr.size else arr


def _loss(
    theta: np.ndarray,
    active: Sequence[str],
    ref: InstrumentRecal,
    data: _Data,
    lam_n: float,
    h: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Minus the instrument's mean element score (up to a constant) plus the shrinkage
    ``lam_n sum h theta^2``, and its gradient in ``theta`` (the active parameters, scalars
    then coefficients)."""
    k = data.x.shape[1]
    p, d = _unpack(theta, active, k)
    s_ref = np.exp(ref.log_sigma_ref)
    u = np.log(np.maximum(data.sigma, metric.SIGMA_FLOOR)) - ref.log_sigma_ref
    ex = np.exp(2 * (p["a"] + p["b"] * u + _rows_dot(data.x, d)[:, None]))
    s2 = np.maximum(data.sigma**2 * ex + p["psi"] * s_ref**2, metric.SIGMA_FLOOR**2)
    mv = (data.mu - ref.mu_ref) / ref.mu_sd
    res = data.y - data.mu - s_ref * (p["f"] + p["e"] * mv)
    z2 = res**2 / s2
    obj = float(np.sum(data.w * (-0.5 * np.log(s2) - 0.5 * z2)))
    gv = data.w * (z2 - 1) / (2 * s2)  # d obj / d sigma'^2
    gm = data.w * res / s2  # d obj / d mu'
    dt = gv * 2 * data.sigma**2 * ex  # d obj / d t
    grads = {
        "a": dt.sum(),
        "b": (dt * u).sum(),
        "psi": gv.sum() * s_ref**2,
        "e": (gm * mv).sum() * s_ref,
        "f": gm.sum() * s_ref,
    }
    g = [grads[n] for n in active if n != "d"]
    if "d" in active:
        g += list(np.sum(data.x * dt.sum(axis=1)[:, None], axis=0))
    grad = -np.asarray(g, dtype=float) + 2 * lam_n * h * theta
    return -obj + lam_n * float(np.sum(h * theta**2)), grad


def _reference(
    mu: np.ndarray, sigma: np.ndarray, names: Sequence[str], x_raw: np.ndarray
) -> InstrumentRecal:
    """The centring and scaling constants of one instrument, from the fitting planets."""
    mean = np.nanmean(x_raw, axis=0) if x_raw.shape[1] else np.zeros(0)
    sd = np.nanstd(x_raw, axis=0) if x_raw.shape[1] else np.zeros(0)
    keep = np.isfinite(sd) & (sd > 1e-12)
    sd_mu = float(np.std(mu))
    log_ref = float(np.log(max(np.median(sigma), metric.SIGMA_FLOOR)))
    u = np.log(np.maximum(sigma, metric.SIGMA_FLOOR)) - log_ref
    z = (x_raw[:, keep] - mean[keep]) / sd[keep] if x_raw.shape[1] else np.zeros((len(mu), 0))
    return InstrumentRecal(
        features=tuple(n for n, k in zip(names, keep, strict=True) if k),
        feature_mean=tuple(float(v) for v in mean[keep]),
        feature_sd=tuple(float(v) for v in sd[keep]),
        log_sigma_ref=log_ref,
        log_sigma_range=(float(np.min(u)), float(np.max(u))),
        feature_range=tuple(
            (float(np.nanmin(c)), float(np.nanmax(c))) for c in np.asarray(z, dtype=float).T
        ),
        mu_ref=float(np.mean(mu)),
        mu_sd=sd_mu if sd_mu > 0 else 1.0,
    )


def fit_instrument(
    mu: np.ndarray,
    sigma: np.ndarray,
    y: np.ndarray,
    table: Mapping[str, np.ndarray],
    instrument: str,
    model: str,
    shrinkage: float,
) -> InstrumentRecal:
    """Fit ``model`` with ``lambda = shrinkage`` on the planets given (all bins; the
    instrument's are taken here), by SLSQP from the identity."""
    sl = INSTRUMENTS[instrument]
    names = feature_names(table, instrument) if "d" in MODELS[model] else []
    x_raw = _raw_features(table, names, len(y))
    ref = _reference(mu[:, sl], sigma[:, sl], names, x_raw)
    if model == "identity":
        return ref
    data = _Data(mu[:, sl], sigma[:, sl], y[:, sl], ref.design(table, len(y)), np.empty(0))
    data.w = _element_weights(data.y, sl, metric.naive_stats(y))
    active = MODELS[model]
    k = data.x.shape[1]
    bounds = [_BOUNDS[n] for n in active if n != "d"] + ([_COEF_BOUND] * k if "d" in active else [])
    # optimise phi = sqrt(h) theta: the Hessian is then close to the identity's scale
    sq = np.sqrt(_fisher(active, ref, data))
    lam_n = shrinkage / len(y)

    def fun(phi: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = _loss(phi / sq, active, ref, data, lam_n, sq**2)
        return value, grad / sq

    res = minimize(
        fun,
        np.zeros(len(bounds)),
        jac=True,
        # SLSQP: L-BFGS-B gives the same optimum but its threaded BLAS made it 5x slower on a
        # busy machine (measured on 32 planets: 1.7 s vs 0.36 s for both instruments)
        method="SLSQP",
        bounds=[(lo * q, hi * q) for (lo, hi), q in zip(bounds, sq, strict=True)],
        options={"maxiter": 500, "ftol": 1e-12},
    )
    theta = res.x / sq
    p, d = _unpack(theta, active, k)
    coef = tuple(float(v) for v in d) if "d" in active else ()
    fitted: dict[str, Any] = {n: float(p[n]) for n in _SCALARS}
    fitted.update(model=model, shrinkage=float(shrinkage), coef=coef)
    if not coef:
        fitted.update(features=(), feature_mean=(), feature_sd=(), feature_range=())
    return replace(ref, **fitted)


# --------------------------------------------------------------------------- both instruments
@dataclass(frozen=True)
class Recalibration:
    """Both instruments' corrections and how they were chosen (written to the JSON)."""

    fgs: InstrumentRecal = InstrumentRecal()
    airs: InstrumentRecal = InstrumentRecal()
    n_planets: int = 0
    folds: int = 0
    #: nested out-of-fold challenge score (unclipped) of the recalibrated train predictions
    oof_score: float | None = None
    #: the same planets' score without recalibration (the fits never see a label)
    raw_score: float | None = None
    #: the K-fold score of every candidate: instrument, model, shrinkage, instrument score
    cv: tuple[tuple[str, str, float, float], ...] = ()
    reason: str = ""

    def apply(
        self,
        mu: np.ndarray,
        sigma: np.ndarray,
        features: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Corrected ``mu, sigma`` (n, 283); ``features``: the physics products' feature table
        (``workflow_io.load_physics_features``), needed when a model uses features."""
        mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
        if mu.shape != sigma.shape or mu.ndim != 2 or mu.shape[1] != metric.N_BINS:
            raise RecalibrationError(f"mu {mu.shape} and sigma {sigma.shape}: expected (n, 283)")
        table = planet_features(mu, sigma, features)
        out_mu, out_s = np.empty_like(mu), np.empty_like(sigma)
        for g, sl in INSTRUMENTS.items():
            r: InstrumentRecal = getattr(self, g)
            out_mu[:, sl], out_s[:, sl] = r.apply(mu[:, sl], sigma[:, sl], r.design(table, len(mu)))
        return out_mu, out_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Recalibration:
        kw: dict[str, Any] = {k: v for k, v in d.items() if k not in INSTRUMENTS}
        kw.update({g: _instrument_from(d.get(g, {})) for g in INSTRUMENTS})
        kw["cv"] = tuple((str(a), str(b), float(c), float(e)) for a, b, c, e in d.get("cv", ()))
        return cls(**kw)

    def to_json(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        atomic_write(path, lambda tmp: tmp.write_text(text))

    @classmethod
    def from_json(cls, path: str | Path) -> Recalibration:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise RecalibrationError(f"{path}: not a recalibration ({exc})") from None


def _instrument_from(d: Mapping[str, Any]) -> InstrumentRecal:
    tuples = ("coef", "features", "feature_mean", "feature_sd")
    kw: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in d.items()}
    if kw.get("log_sigma_range") is not None:
        kw["log_sigma_range"] = tuple(float(v) for v in kw["log_sigma_range"])
    kw["feature_range"] = tuple(tuple(float(v) for v in r) for r in kw.get("feature_range", ()))
    return InstrumentRecal(**kw)


def planet_folds(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Held-out planet indices of a seeded K-fold, ``K = min(folds, n)``; none below 2."""
    k = min(int(folds), n)
    if k < 2:
        return []
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, k)]


def _subset(table: Mapping[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in table.items()}


Table = Mapping[str, np.ndarray]


def _instrument_score(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, sl: slice, naive: tuple[float, float]
) -> float:
    """Mean element score r of one instrument's bins (its share of the challenge score)."""
    l_pred = metric.gaussian_log_likelihood(y, mu, sigma)
    l_naive = metric.gaussian_log_likelihood(y, naive[0], naive[1])
    return float(np.sum((l_pred - l_naive) * _element_weights(y, sl, naive)))


def _choose(
    mu: np.ndarray,
    sigma: np.ndarray,
    y: np.ndarray,
    table: Table,
    instrument: str,
    cfg: RecalibrationConfig,
    parts: list[np.ndarray],
) -> tuple[str, float, list[tuple[str, str, float, float]]]:
    """The (model, shrinkage) of the best K-fold score of ``instrument`` (ties: the simpler),
    and every candidate's score."""
    sl = INSTRUMENTS[instrument]
    naive = metric.naive_stats(y)
    rows: list[tuple[str, str, float, float]] = []
    for model in cfg.models():
        for lam in (0.0,) if model == "identity" else cfg.shrinkage:
            oof_mu, oof_s = mu[:, sl].copy(), sigma[:, sl].copy()
            for held in parts:
                fit = np.setdiff1d(np.arange(len(y)), held)
                r = fit_instrument(
                    mu[fit], sigma[fit], y[fit], _subset(table, fit), instrument, model, lam
                )
                x = r.design(_subset(table, held), len(held))
                oof_mu[held], oof_s[held] = r.apply(mu[held, sl], sigma[held, sl], x)
            score = _instrument_score(y[:, sl], oof_mu, oof_s, sl, naive)
            rows.append((instrument, model, float(lam), score))
    best = max(range(len(rows)), key=lambda i: (rows[i][3], -i))
    return rows[best][1], rows[best][2], rows


def _fit_chosen(
    mu: np.ndarray, sigma: np.ndarray, y: np.ndarray, table: Table, cfg: RecalibrationConfig
) -> Recalibration:
    """Choose per instrument by K-fold, refit the choice on every planet given."""
    parts = planet_folds(len(y), cfg.folds, cfg.seed)
    if len(y) < max(cfg.min_planets, 2) or not parts:
        return Recalibration(
            n_planets=len(y),
            reason=f"{len(y)} train planets, fewer than recalibration.min_planets "
            f"({cfg.min_planets}): no recalibration (identity)",
        )
    fitted: dict[str, Any] = {}
    cv: list[tuple[str, str, float, float]] = []
    for g in INSTRUMENTS:
        model, lam, rows = _choose(mu, sigma, y, table, g, cfg, parts)
        fitted[g] = fit_instrument(mu, sigma, y, table, g, model, lam)
        cv += rows
    reason = ", ".join(f"{g} {r.model} (shrinkage {r.shrinkage:g})" for g, r in fitted.items())
    return Recalibration(
        **fitted,
        n_planets=len(y),
        folds=len(parts),
        cv=tuple(cv),
        reason=f"K-fold choice: {reason}",
    )


def oof_predictions(
    mu: np.ndarray,
    sigma: np.ndarray,
    y: np.ndarray,
    table: Mapping[str, np.ndarray],
    cfg: RecalibrationConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Nested out-of-fold predictions: each fold's planets recalibrated by the whole procedure
    (K-fold choice and refit) run on the other planets alone; never on their own labels."""
    out_mu, out_s = np.asarray(mu, dtype=float).copy(), np.asarray(sigma, dtype=float).copy()
    for held in planet_folds(len(y), cfg.folds, cfg.seed):
        fit = np.setdiff1d(np.arange(len(y)), held)
        r = _fit_chosen(mu[fit], sigma[fit], y[fit], _subset(table, fit), cfg)
        out_mu[held], out_s[held] = r.apply(mu[held], sigma[held], _subset(table, held))
    return out_mu, out_s


def fit_recalibration(
    mu: np.ndarray,
    sigma: np.ndarray,
    y: np.ndarray,
    features: Mapping[str, np.ndarray] | None = None,
    config: RecalibrationConfig | Mapping[str, Any] | None = None,
    *,
    nested: bool = True,
) -> Recalibration:
    """Fit the recalibration on train ``mu, sigma`` (n, 283) against labels ``y``, the
    per-planet ``features`` of the physics products (:func:`planet_features` adds the S/N).

    The model and shrinkage of each instrument are chosen by K-fold over planets
    (``config.folds``, capped by n), then refitted on every planet. ``oof_score`` (with
    ``nested``) is the challenge score of :func:`oof_predictions`, ``raw_score`` that of the
    fits as given. Fewer than ``config.min_planets`` planets: the identity, with the reason.
    """
    if config is None:
        config = RecalibrationConfig.from_dict({})
    cfg = (
        config if isinstance(config, RecalibrationConfig) else RecalibrationConfig.from_dict(config)
    )
    mu, sigma, y = (np.asarray(a, dtype=float) for a in (mu, sigma, y))
    if mu.shape != y.shape or sigma.shape != y.shape or mu.ndim != 2 or len(y) < 2:
        raise RecalibrationError(
            f"recalibration needs >= 2 train planets with matching shapes, got {mu.shape}, {y.shape}"
        )
    table = planet_features(mu, sigma, features)
    if not cfg.features:
        table = {}
    r = _fit_chosen(mu, sigma, y, table, cfg)
    naive = metric.naive_stats(y)
    raw = metric.challenge_score(
        y, mu, sigma, naive_mean=naive[0], naive_sigma=naive[1], clip=False
    )
    oof = None
    if nested and r.folds:
        o_mu, o_s = oof_predictions(mu, sigma, y, table, cfg)
        oof = metric.challenge_score(
            y, o_mu, o_s, naive_mean=naive[0], naive_sigma=naive[1], clip=False
        )
    elif not r.folds:
        oof = raw  # the identity: the fits never saw a label
    r = replace(r, oof_score=None if oof is None else float(oof), raw_score=float(raw))
    log.info("recalibration: %s; out-of-fold score %s, raw %.4f", r.reason, r.oof_score, raw)
    return r


__all__ = [
    "INSTRUMENTS",
    "MODELS",
    "InstrumentRecal",
    "Recalibration",
    "RecalibrationConfig",
    "RecalibrationError",
    "feature_names",
    "fit_instrument",
    "fit_recalibration",
    "oof_predictions",
    "planet_features",
    "planet_folds",
]
