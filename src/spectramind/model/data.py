"""Model inputs from the pipeline products (numpy; no torch, no config).

Per planet (``V`` visits padded to the largest count, ``T`` time bins, ``Wb`` AIRS
wavelength groups)::

    fgs        (V, T', Cf)    FGS1 white light curve and helpers per time step
    airs       (V, T, Wb, Ca) AIRS light curves, averaged in groups of neighbouring bins
    visit_mask (V,)           True = real visit
    aux        (Fa,)          star parameters and cube summaries (no physics-fit input)
    depth      (283,)         physics fit depths        \\
    sigma      (283,)         physics fit uncertainties  | physics inputs, used only when
    phys       (Fp,)          physics fit summaries     /  the model has ``use_physics``
    amp_physics, amp_star     expected feature amplitude at the physics depth (NaN without
                              one) / at unit depth (the model scales it to the mean training
                              depth: amplitudes go as depth^1.5)
    star       (8,)           the star row (Rs, Ms, Ts, Mp, e, P, sma, i)
    baseline_h ()             out-of-transit time (h) of the visit with the least of it
    level_err  ()             the physics white-light AIRS depth uncertainty 2 k dk (physics
                              input; the mean bin sigma when the white-light fit is missing)

Raw values (NaN where the cube has no data); the model normalises them with statistics
from its training split (:func:`normalisation_stats`) stored in its state_dict.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spectramind.model.prior import feature_amplitude

__all__ = [
    "AIRS_CHANNELS",
    "AUX_FEATURES",
    "FGS_CHANNELS",
    "PHYS_FEATURES",
    "PlanetFeatures",
    "load_planets",
    "normalisation_stats",
    "planet_features",
    "stack_planets",
    "star_frame",
    "wavelength_groups",
]

#: FGS1 channels; the last two only carry information with physics inputs (else constant)
FGS_CHANNELS = (
    "flux",
    "in_transit",
    "valid",
    "centroid_y",
    "centroid_x",
    "background",
    "white_model",
    "white_residual",
)
#: AIRS channels; ``white_model`` (the physics AIRS white-light model) as above
AIRS_CHANNELS = ("flux", "in_transit", "white_model")
AUX_FEATURES = (
    "log_Rs",
    "log_Ms",
    "log_Ts",
    "log_Mp",
    "log_P",
    "log_sma",
    "cos_i",
    "log_transit_snr",
    "n_visits",
    "partial",
    "log_baseline_h",
    "log_short_side_h",
)
PHYS_FEATURES = (
    "log_depth_airs",
    "log_depth_fgs",
    "log_sigma_airs",
    "log_sigma_fgs",
    "flag_ok",
    "flag_partial",
    "flag_low_snr",
    "flag_failed",
    "log_white_chi2",
    "log_k_err_airs",
)
#: physics-only channels, zeroed (after normalisation) in a model without physics inputs
FGS_PHYSICS_CHANNELS = ("white_model", "white_residual")
AIRS_PHYSICS_CHANNELS = ("white_model",)
STAR_KEYS = ("Rs", "Ms", "Ts", "Mp", "e", "P", "sma", "i")
_FLAGS = ("ok", "partial", "low_snr", "failed")


@dataclass
class PlanetFeatures:
    """Stacked inputs of ``n`` planets (see the module docstring for the per-planet shapes)."""

    planet_ids: np.ndarray  # (n,) int64
    fgs: np.ndarray  # (n, V, T', Cf) float32
    airs: np.ndarray  # (n, V, T, Wb, Ca) float32
    visit_mask: np.ndarray  # (n, V) bool
    aux: np.ndarray  # (n, Fa) float64
    depth: np.ndarray  # (n, 283) float64
    sigma: np.ndarray  # (n, 283) float64
    phys: np.ndarray  # (n, Fp) float64
    amp_physics: np.ndarray  # (n,) float64
    amp_star: np.ndarray  # (n,) float64
    star: np.ndarray  # (n, 8) float64, columns STAR_KEYS
    baseline_h: np.ndarray  # (n,) float64
    level_err: np.ndarray  # (n,) float64

    def __len__(self) -> int:
        return len(self.planet_ids)

    def subset(self, index: np.ndarray | Sequence[int]) -> PlanetFeatures:
        idx = np.asarray(index)
        return PlanetFeatures(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _bin_time(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of ``k`` consecutive time steps along axis 0 (NaN-aware; a partial last group kept)."""
    if k == 1:
        return x
    n = x.shape[0]
    groups = [x[i : i + k] for i in range(0, n, k)]
    with np.errstate(invalid="ignore"), _quiet():
        return np.stack([np.nanmean(g, axis=0) for g in groups])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's 'Mean of empty slice' RuntimeWarning (all-NaN groups stay NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield


def wavelength_groups(n_bins: int, n_groups: int) -> list[np.ndarray]:
    """Indices of ``n_groups`` contiguous, near-equal groups of ``n_bins`` AIRS bins (the
    grouping of the AIRS light curves; the model maps each group's token back to its bins)."""
    if n_groups < 1 or n_groups > n_bins:
        raise ValueError(f"airs_wavelength_bins must be in [1, {n_bins}], got {n_groups}")
    return np.array_split(np.arange(n_bins), n_groups)


def _group_wavelengths(flux: np.ndarray, n_groups: int) -> np.ndarray:
    """(T, W) -> (T, n_groups): NaN-mean over :func:`wavelength_groups` of the bins."""
    with _quiet():
        return np.stack(
            [np.nanmean(flux[:, g], axis=1) for g in wavelength_groups(flux.shape[1], n_groups)],
            axis=1,
        )


def _log(x: float, floor: float) -> float:
    """log(max(x, floor)); NaN -> log(floor)."""
    x = float(x)
    return float(np.log(x if np.isfinite(x) and x > floor else floor))


def _centred(x: np.ndarray) -> np.ndarray:
    with _quiet():
        med = np.nanmedian(x)
    return x - (med if np.isfinite(med) else 0.0)


def _in_transit(t: np.ndarray, ingress: float, egress: float) -> np.ndarray:
    """1 inside [ingress, egress], else 0 (all 0 when a contact is unknown)."""
    if not np.isfinite(ingress + egress):
        return np.zeros(len(t))
    return ((t >= ingress) & (t <= egress)).astype(float)


def _visit_sequences(
    cube: xr.Dataset, white: xr.Dataset | None, v: int, *, fgs_time_bin: int, airs_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """FGS1 (T', Cf) and AIRS (T, Wb, Ca) channels of visit ``v`` (``white``: the physics fit
    with white-light models of every visit, or None)."""
    t, flux = cube["time"].values, cube["flux"].values[v]  # (T, W)
    nt = len(t)
    in_tr = _in_transit(t, float(cube["ingress"].values[v]), float(cube["egress"].values[v]))
    f0 = flux[:, 0]
    model_f = white["white_fgs_model"].values[v] if white is not None else np.ones(nt)
    model_a = white["white_airs_model"].values[v] if white is not None else np.ones(nt)
    chans = [
        f0 - 1.0,
        in_tr,
        np.isfinite(f0).astype(float),
        _centred(cube["fgs_centroid_y"].values[v]),
        _centred(cube["fgs_centroid_x"].values[v]),
        _centred(cube["fgs_background"].values[v]),
        model_f - 1.0,
        f0 - model_f,
    ]
    a = _group_wavelengths(flux[:, 1:], airs_groups) - 1.0  # (T, Wb)
    airs = np.stack(
        [
            a,
            np.broadcast_to(in_tr[:, None], a.shape),
            np.broadcast_to(model_a[:, None] - 1.0, a.shape),
        ],
        axis=-1,
    )
    return _bin_time(np.stack(chans, axis=1), fgs_time_bin), airs


def _baseline_hours(cube: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-transit time (h) before ingress and after egress, per visit (0 when unknown)."""
    t = cube["time"].values
    before = np.nan_to_num(cube["ingress"].values - t[0], nan=0.0).clip(0, None)
    after = np.nan_to_num(t[-1] - cube["egress"].values, nan=0.0).clip(0, None)
    return before, after


def _aux_features(cube: xr.Dataset, star: dict[str, float]) -> list[float]:
    """The ``AUX_FEATURES`` of one planet: star row and cube summaries."""
    snr_all = cube["transit_snr"].values
    snr = np.nanmax(snr_all) if np.isfinite(snr_all).any() else 0.0
    partial = float(
        not (cube["ingress_observed"].values.all() and cube["egress_observed"].values.all())
    )
    # out-of-transit baseline (h) of the worst visit: a short baseline makes the depth level
    # degenerate with the drift (the physics fit's largest errors)
    before, after = _baseline_hours(cube)
    return [
        _log(star["Rs"], 1e-3),
        _log(star["Ms"], 1e-3),
        _log(star["Ts"], 1.0),
        _log(star["Mp"], 1e-3),
        _log(star["P"], 1e-3),
        _log(star["sma"], 1.0),
        np.cos(np.deg2rad(star["i"])),
        _log(snr, 1e-3),
        float(cube["flux"].shape[0]),
        partial,
        _log(np.min(before + after), 0.1),
        _log(np.min(np.minimum(before, after)), 0.05),
    ]


def _physics_features(fit: xr.Dataset | None, n_bins: int) -> dict[str, Any]:
    """Depth, sigma, ``PHYS_FEATURES``, the AIRS mean depth and the level error of one physics
    fit (None: NaN depths and AIRS mean depth, zero features)."""
    if fit is None:
        nan = np.full(n_bins, np.nan)
        return {
            "depth": nan,
            "sigma": nan,
            "phys": [0.0] * len(PHYS_FEATURES),
            "d_airs": np.nan,
            "level_err": np.nan,
        }
    depth, sigma = fit["depth"].values.astype(float), fit["depth_sigma"].values.astype(float)
    flag = str(fit.attrs.get("flag", "failed"))
    d_airs = float(np.nanmean(depth[1:]))
    k, dk = float(fit.attrs.get("k_airs", np.nan)), float(fit.attrs.get("k_airs_err", np.nan))
    level_err = 2.0 * k * dk if np.isfinite(k * dk) and k * dk > 0 else float(np.nanmean(sigma[1:]))
    phys = [
        _log(d_airs, 1e-5),
        _log(depth[0], 1e-5),
        _log(np.nanmedian(sigma[1:]), 1e-7),
        _log(sigma[0], 1e-7),
        *[float(flag == f) for f in _FLAGS],
        _log(fit.attrs.get("white_chi2_red", 1.0), 1e-3),
        _log(fit.attrs.get("k_airs_err", 1e-3), 1e-6),
    ]
    return {"depth": depth, "sigma": sigma, "phys": phys, "d_airs": d_airs, "level_err": level_err}


def planet_features(
    cube: xr.Dataset, fit: xr.Dataset | None, *, fgs_time_bin: int, airs_wavelength_bins: int
) -> dict[str, Any]:
    """Inputs of one planet from its cube and (optional) physics fit; unpadded visits."""
    nv, _, nw = cube["flux"].shape
    wavelength_groups(nw - 1, airs_wavelength_bins)  # validates the group count
    white = (
        fit
        if fit is not None and "white_fgs_model" in fit and fit.sizes.get("visit") == nv
        else None
    )
    seqs = [
        _visit_sequences(
            cube, white, v, fgs_time_bin=fgs_time_bin, airs_groups=airs_wavelength_bins
        )
        for v in range(nv)
    ]
    star = {k: float(cube.attrs[f"star_{k}"]) for k in STAR_KEYS}
    aux = _aux_features(cube, star)
    phys = _physics_features(fit, nw)
    if len(phys["phys"]) != len(PHYS_FEATURES) or len(aux) != len(AUX_FEATURES):
        raise AssertionError("feature lists out of sync with PHYS_FEATURES / AUX_FEATURES")
    star_df = pd.DataFrame([star])
    d_airs = phys["d_airs"]
    before, after = _baseline_hours(cube)
    return {
        "planet_id": int(cube.attrs["planet_id"]),
        "fgs": np.stack([s[0] for s in seqs]),
        "airs": np.stack([s[1] for s in seqs]),
        "aux": np.asarray(aux, dtype=float),
        "depth": np.asarray(phys["depth"], dtype=float),
        "sigma": np.asarray(phys["sigma"], dtype=float),
        "phys": np.asarray(phys["phys"], dtype=float),
        "amp_physics": float(feature_amplitude(star_df, np.array([d_airs]))[0])
        if np.isfinite(d_airs)
        else np.nan,
        "amp_star": float(feature_amplitude(star_df, np.array([1.0]))[0]),
        "star": np.asarray([star[k] for k in STAR_KEYS], dtype=float),
        "baseline_h": float(np.min(before + after)),
        "level_err": float(phys["level_err"]),
    }


def star_frame(feats: PlanetFeatures) -> pd.DataFrame:
    """The star rows of ``feats`` as a DataFrame (columns ``STAR_KEYS``)."""
    return pd.DataFrame(feats.star, columns=list(STAR_KEYS))


def _pad_visits(arrays: list[np.ndarray], n_visits: int) -> np.ndarray:
    out = np.zeros((len(arrays), n_visits, *arrays[0].shape[1:]), dtype=np.float32)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return out


def stack_planets(items: Sequence[dict[str, Any]]) -> PlanetFeatures:
    """Stack :func:`planet_features` outputs, padding visits (padded visits are all 0)."""
    if not items:
        raise ValueError("no planets to stack")
    nv = max(it["fgs"].shape[0] for it in items)
    mask = np.zeros((len(items), nv), dtype=bool)
    for i, it in enumerate(items):
        mask[i, : it["fgs"].shape[0]] = True
    return PlanetFeatures(
        planet_ids=np.asarray([it["planet_id"] for it in items], dtype=np.int64),
        fgs=_pad_visits([it["fgs"] for it in items], nv),
        airs=_pad_visits([it["airs"] for it in items], nv),
        visit_mask=mask,
        aux=np.stack([it["aux"] for it in items]),
        depth=np.stack([it["depth"] for it in items]),
        sigma=np.stack([it["sigma"] for it in items]),
        phys=np.stack([it["phys"] for it in items]),
        amp_physics=np.asarray([it["amp_physics"] for it in items]),
        amp_star=np.asarray([it["amp_star"] for it in items]),
        star=np.stack([it["star"] for it in items]),
        baseline_h=np.asarray([it["baseline_h"] for it in items], dtype=float),
        level_err=np.asarray([it["level_err"] for it in items], dtype=float),
    )


def load_planets(
    cube_files: Sequence[str | Path],
    physics_files: Sequence[str | Path] | None,
    *,
    fgs_time_bin: int,
    airs_wavelength_bins: int,
) -> PlanetFeatures:
    """Features of the planets of ``cube_files`` (sorted by planet id), each matched to the
    physics file with the same ``planet_id`` attribute (``None``: no physics inputs)."""
    fits: dict[int, xr.Dataset] = {}
    for f in physics_files or []:
        with xr.open_dataset(f) as ds:
            fits[int(ds.attrs["planet_id"])] = ds.load()
    items = []
    for f in cube_files:
        with xr.open_dataset(f) as ds:
            cube = ds.load()
        pid = int(cube.attrs["planet_id"])
        if physics_files is not None and pid not in fits:
            raise ValueError(f"no physics fit for planet {pid} (cube {f})")
        items.append(
            planet_features(
                cube,
                fits.get(pid),
                fgs_time_bin=fgs_time_bin,
                airs_wavelength_bins=airs_wavelength_bins,
            )
        )
    items.sort(key=lambda it: it["planet_id"])
    return stack_planets(items)


def _mean_std(x: np.ndarray, axis: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    with _quiet():
        mean = np.nanmean(x, axis=axis)
        std = np.nanstd(x, axis=axis)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
    return mean, std


def normalisation_stats(feats: PlanetFeatures) -> dict[str, np.ndarray]:
    """Per-channel mean and std over the (real visits of the) given planets."""
    fgs = feats.fgs[feats.visit_mask]  # (n_visits, T', Cf)
    airs = feats.airs[feats.visit_mask]  # (n_visits, T, Wb, Ca)
    stats = {}
    stats["fgs_mean"], stats["fgs_std"] = _mean_std(fgs, (0, 1))
    stats["airs_mean"], stats["airs_std"] = _mean_std(airs, (0, 1, 2))
    stats["aux_mean"], stats["aux_std"] = _mean_std(feats.aux, (0,))
    stats["phys_mean"], stats["phys_std"] = _mean_std(feats.phys, (0,))
    for name in ("valid", "in_transit"):  # indicators: keep 0/1 values
        j = FGS_CHANNELS.index(name)
        stats["fgs_mean"][j], stats["fgs_std"][j] = 0.0, 1.0
    j = AIRS_CHANNELS.index("in_transit")
    stats["airs_mean"][j], stats["airs_std"][j] = 0.0, 1.0
    return {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
