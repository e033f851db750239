"""Population priors learned on the train split: pure functions, no I/O.

A population quantity q (e.g. ln(a_fit / a_star), i_fit - i_star, the FGS1-AIRS time offset)
is measured on every train planet with its own uncertainty sd_i. Its population is
N(mu, sd_pop^2); each measurement is then N(mu, sd_pop^2 + sd_i^2). :func:`ml_population`
finds (mu, sd_pop) by maximum likelihood, so the fits' own errors are deconvolved from the
population spread (the spread of the raw measurements would overstate sd_pop by the typical
sd_i). :func:`fallback_spectrum` is the failed-fit prediction learned from the train labels.

:class:`FitPrior` is what the transit fit is given: :func:`broad_prior` (weak, from config
widths) for the train fits the population is learned from, :func:`learn_prior` for the fits
that are predicted (train and test alike), saved as ``results/physics/population.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar


def _profile(x: np.ndarray, sd: np.ndarray, s_pop: float) -> tuple[float, float]:
    """(mu, negative log-likelihood) at population sd ``s_pop``, mu profiled out."""
    var = s_pop**2 + sd**2
    w = 1.0 / var
    mu = float(np.sum(w * x) / np.sum(w))
    return mu, float(0.5 * np.sum(np.log(var) + (x - mu) ** 2 / var))


def ml_population(x: np.ndarray, sd: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (mu, sd_pop) of x_i ~ N(mu, sd_pop^2 + sd_i^2).

    Non-finite pairs are dropped; sd_pop is searched on a log scale between 1e-6 of and 10
    times the raw spread (0 when the measurements scatter no more than their errors). Needs
    at least two finite measurements with sd_i >= 0.
    """
    x, sd = np.asarray(x, dtype=float), np.asarray(sd, dtype=float)
    if x.shape != sd.shape:
        raise ValueError(f"x {x.shape} and sd {sd.shape} differ in shape")
    ok = np.isfinite(x) & np.isfinite(sd) & (sd >= 0)
    x, sd = x[ok], sd[ok]
    if len(x) < 2:
        raise ValueError(f"{len(x)} finite measurements: a population needs at least 2")
    spread = float(np.std(x))
    if spread == 0.0:
        return float(x[0]), 0.0
    lo, hi = np.log(1e-6 * spread), np.log(10.0 * spread)
    res = minimize_scalar(
        lambda ls: _profile(x, np.maximum(sd, 1e-12 * spread), float(np.exp(ls)))[1],
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-6},
    )
    s_pop = float(np.exp(res.x))
    if res.x - lo < 1e-3 * (hi - lo):  # at the lower end: no spread beyond the errors
        s_pop = 0.0
    mu, _ = _profile(x, np.maximum(sd, 1e-12 * spread), s_pop)
    return mu, s_pop


def fallback_spectrum(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean train spectrum and its per-bin sd (n_bins,) from the labels (n_planets, n_bins):
    the prediction of a failed fit (what is known of a planet without its own data)."""
    y = np.asarray(labels, dtype=float)
    if y.ndim != 2 or y.shape[0] < 2:
        raise ValueError(f"labels of shape {y.shape}: need (n_planets >= 2, n_bins)")
    return np.nanmean(y, axis=0), np.nanstd(y, axis=0, ddof=1)


# --------------------------------------------------------------------------- the fit's priors
#: the quantities of the fit's Gaussian priors: ln(a/Rs / star sma), inclination minus the
#: star row's (deg), the limb-darkening offsets (fitted minus the law) of each instrument and
#: the AIRS-CH0 time offset from FGS1 (h, per visit)
PRIOR_KEYS = (
    "ln_sma_ratio",
    "d_inc_deg",
    "ld_fgs1_u1",
    "ld_fgs1_u2",
    "ld_airs_u1",
    "ld_airs_u2",
    "airs_dt_h",
)
#: a learned population sd is floored at this fraction of the median measurement error: a
#: population with no spread beyond the fits' errors fixes the quantity (almost) exactly
SD_FLOOR_FRACTION = 0.05


@dataclass(frozen=True)
class FitPrior:
    """The Gaussian priors of the white-light fit and the prediction of a failed fit.

    ``mean``/``sd``: {PRIOR_KEYS: value}. ``fallback_mu``/``fallback_sigma``: (n_bins,) the
    train spectrum's mean and sd (None for the broad prior, which has no train labels: a
    failed fit is then NaN, flagged). ``source``: ``"broad"`` (config widths around the star
    row and the law) or ``"train"`` (learned); ``n_planets``: the train fits it was learned
    from (per key, the fits that measured it)."""

    mean: dict[str, float]
    sd: dict[str, float]
    source: str
    fallback_mu: np.ndarray | None = None
    fallback_sigma: np.ndarray | None = None
    n_planets: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k in PRIOR_KEYS:
            if not (np.isfinite(self.mean.get(k, np.nan)) and self.sd.get(k, 0.0) > 0):
                raise ValueError(
                    f"prior {k!r}: mean {self.mean.get(k)} and sd {self.sd.get(k)} "
                    "must be finite and sd > 0"
                )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": "spectramind-physics-prior",
            "format_version": 1,
            "source": self.source,
            "mean": dict(self.mean),
            "sd": dict(self.sd),
            "n_planets": dict(self.n_planets),
        }
        if self.fallback_mu is not None and self.fallback_sigma is not None:
            out["fallback_mu"] = [float(v) for v in self.fallback_mu]
            out["fallback_sigma"] = [float(v) for v in self.fallback_sigma]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "physics prior") -> FitPrior:
        if d.get("format") != "spectramind-physics-prior":
            raise ValueError(f"{where}: not a physics prior (format {d.get('format')!r})")
        try:
            fb_mu, fb_sd = d.get("fallback_mu"), d.get("fallback_sigma")
            return cls(
                mean={k: float(d["mean"][k]) for k in PRIOR_KEYS},
                sd={k: float(d["sd"][k]) for k in PRIOR_KEYS},
                source=str(d["source"]),
                fallback_mu=None if fb_mu is None else np.asarray(fb_mu, dtype=float),
                fallback_sigma=None if fb_sd is None else np.asarray(fb_sd, dtype=float),
                n_planets={k: int(v) for k, v in d.get("n_planets", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None

    def to_json(self, path: str | Path) -> None:
        from spectramind.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> FitPrior:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the physics prior: {exc}") from None
        return cls.from_dict(d, where=str(path))


def broad_prior(sma_frac: float, inc_deg: float, ld: float, dt_h: float) -> FitPrior:
    """The weak prior of the fits the population is learned from: centred on the star row,
    the limb-darkening law and no time offset, widths ``sma_frac`` (of ln a/Rs), ``inc_deg``,
    ``ld`` and ``dt_h``."""
    sd = {"ln_sma_ratio": sma_frac, "d_inc_deg": inc_deg, "airs_dt_h": dt_h}
    sd.update({k: ld for k in PRIOR_KEYS if k.startswith("ld_")})
    return FitPrior(mean=dict.fromkeys(PRIOR_KEYS, 0.0), sd=sd, source="broad")


def learn_prior(
    measurements: Sequence[Mapping[str, tuple[float, float]]],
    labels: np.ndarray,
    fallback: FitPrior | None = None,
) -> FitPrior:
    """The population prior of :data:`PRIOR_KEYS` by maximum likelihood over the train fits'
    ``measurements`` (per planet {key: (value, sd)}; a key a fit did not measure is left out)
    and the fallback spectrum from the train ``labels`` (n_planets, n_bins).

    The prior's sd is that of the next planet's value (the posterior predictive):
    sqrt(sd_pop^2 + se(mu)^2), the population spread plus the uncertainty of its mean, so a
    small train split (or noisy measurements) gives a wide prior rather than an overconfident
    one; it is floored at ``SD_FLOOR_FRACTION`` of the median measurement sd. A quantity
    fewer than two train fits measured keeps ``fallback``'s mean and sd (the broad prior;
    ``n_planets`` says how many measured it); without a fallback it is an error."""
    mean, sd, n = {}, {}, {}
    for k in PRIOR_KEYS:
        pairs = np.array([m[k] for m in measurements if k in m], dtype=float).reshape(-1, 2)
        ok = np.isfinite(pairs).all(axis=1) & (pairs[:, 1] > 0)
        x, s = pairs[ok, 0], pairs[ok, 1]
        if len(x) < 2:
            if fallback is None:
                raise ValueError(f"prior {k!r}: {len(x)} train fits measured it, need at least 2")
            mean[k], sd[k], n[k] = fallback.mean[k], fallback.sd[k], len(x)
            continue
        mu, s_pop = ml_population(x, s)
        se_mu = float(np.sqrt(1.0 / np.sum(1.0 / (s_pop**2 + np.maximum(s, 1e-300) ** 2))))
        predictive = float(np.hypot(s_pop, se_mu))
        mean[k], sd[k], n[k] = mu, max(predictive, SD_FLOOR_FRACTION * float(np.median(s))), len(x)
    fb_mu, fb_sd = fallback_spectrum(labels)
    return FitPrior(
        mean=mean, sd=sd, source="train", fallback_mu=fb_mu, fallback_sigma=fb_sd, n_planets=n
    )
