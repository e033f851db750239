"""Diagnostic numbers and figures of a run (rules ``diagnose_*``; PNGs for the HTML report).

Numbers (pure functions, arrays in, arrays out):

* :func:`z_scores`       ``(y - mu) / sigma`` per element;
* :func:`coverage_curve` the fraction of true values inside the central interval of each
  nominal probability (a calibrated Gaussian prediction lies on the diagonal);
* :func:`rmse_per_bin`   the RMSE of each wavelength bin in ppm;
* :func:`bin_points`     means of consecutive groups of points with their standard errors;
* :func:`detrend`        a white light curve with the fitted drift and jitter terms removed;
* :func:`rms_vs_bin_size` the rms of binned residuals against the bin size, and the
  white-noise expectation ``sigma_1 / sqrt(N)`` (a red-noise check);
* :func:`spectral_residuals` the residual of every time bin and wavelength bin against the
  fitted spectrum times the white-light transit shape and the bin's own smooth drift;
* :func:`spectrum_residuals` ``(mu - truth) / sigma`` per wavelength bin.

Figures (each returns a :class:`matplotlib.figure.Figure`; no pyplot, so no global state):

* per planet: :func:`figure_frames` (a raw AIRS-CH0 and FGS1 frame and their CDS),
  :func:`figure_light_curves` (detrended white light curves, binned points, the smooth
  fitted transit, residuals), :func:`figure_noise` (rms against bin size),
  :func:`figure_residual_map` (time x wavelength residuals), :func:`figure_calibration_qa`
  (centroids, trace, background, masked pixels, cosmic rays over time),
  :func:`figure_spectrum` (mu +/- sigma of each method against the truth when known, and
  (mu - truth) / sigma per bin);
* of the model: :func:`figure_training` (loss and scores per epoch, ``history.csv``);
* across planets: :func:`figure_per_bin` (score and RMSE per bin), :func:`figure_zscores`
  (z-score histograms against a unit Gaussian), :func:`figure_coverage` (coverage against
  nominal), :func:`figure_runtime` (wall and CPU time per rule from the benchmark files);
* :func:`score_table_html`: the score table as a small HTML page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import AsinhNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from spectramind import io, metric
from spectramind.constants import AIRS_FIRST_COLUMN, AIRS_STOP_COLUMN, PPM

__all__ = [
    "AIRS_SPECTRAL_COLUMNS",
    "LC_BIN_H",
    "NOMINAL_LEVELS",
    "Z_RANGE",
    "bin_points",
    "bin_transits",
    "coverage_curve",
    "detrend",
    "diagnose_planet",
    "diagnose_runtime",
    "diagnose_split",
    "diagnose_training",
    "figure_calibration_qa",
    "figure_coverage",
    "figure_frames",
    "figure_light_curves",
    "figure_noise",
    "figure_per_bin",
    "figure_residual_map",
    "figure_runtime",
    "figure_spectrum",
    "figure_training",
    "figure_zscores",
    "frame_scale",
    "read_frames",
    "rms_vs_bin_size",
    "rmse_per_bin",
    "runtime_summary",
    "save_figure",
    "score_table_html",
    "spectral_residuals",
    "spectrum_residuals",
    "z_scores",
]

#: AIRS-CH0 detector columns holding the 282 spectral bins ([start, stop)).
AIRS_SPECTRAL_COLUMNS = (AIRS_FIRST_COLUMN, AIRS_STOP_COLUMN)
#: Nominal central probabilities of the coverage curve.
NOMINAL_LEVELS = np.round(np.linspace(0.05, 0.99, 48), 4)
#: Range of the z-score histograms; values beyond are counted, not drawn.
Z_RANGE = 5.0
#: Colours per prediction method (others cycle through matplotlib's default colours).
METHOD_COLOURS = {"constant": "#7f7f7f", "physics": "#1f77b4", "model": "#d62728"}
DPI = 110
#: Width of the binned points of the light-curve figure (hours).
LC_BIN_H = 0.25
#: rms_vs_bin_size: the largest bin leaves at least this many bins (the rms of fewer is noise).
MIN_BINS = 8
#: AIRS bins averaged into one column of the residual map (282 / 6 = 47 columns).
MAP_GROUP = 6
#: Degree of each bin's own polynomial drift in time removed in the residual map (the physics
#: fit's default largest drift order ``physics.drift_max_order``; the rule passes the
#: configured one).
MAP_DRIFT_DEGREE = 6


# --------------------------------------------------------------------------- numbers
def _arrays(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, mu, sigma = (np.asarray(a, dtype=float) for a in (y, mu, sigma))
    if not (y.shape == mu.shape == sigma.shape):
        raise ValueError(f"shapes differ: y {y.shape}, mu {mu.shape}, sigma {sigma.shape}")
    return y, mu, sigma


def z_scores(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``(y - mu) / sigma`` elementwise, sigma floored at the metric's 1e-15 (any shape)."""
    y, mu, sigma = _arrays(y, mu, sigma)
    return (y - mu) / np.maximum(sigma, metric.SIGMA_FLOOR)


def coverage_curve(
    y: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    nominal: Sequence[float] | np.ndarray = NOMINAL_LEVELS,
) -> np.ndarray:
    """Empirical coverage of the central Gaussian intervals of probabilities ``nominal``.

    For each p: the fraction of elements with ``|z| <= Phi^-1((1 + p) / 2)`` (p = 0.6827 is
    the 1-sigma interval). Returns an array like ``nominal``.
    """
    z = np.abs(z_scores(y, mu, sigma)).ravel()
    p = np.asarray(nominal, dtype=float)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError("nominal probabilities must lie in (0, 1)")
    half_width = np.array([NormalDist().inv_cdf((1 + q) / 2) for q in p.ravel()]).reshape(p.shape)
    return (z[None, :] <= half_width.reshape(-1, 1)).mean(axis=1).reshape(p.shape)


def rmse_per_bin(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """RMSE over planets of each bin, in ppm: ``(n_planets, n_bins) -> (n_bins,)``."""
    y, mu = np.asarray(y, dtype=float), np.asarray(mu, dtype=float)
    if y.shape != mu.shape or y.ndim != 2:
        raise ValueError(f"expected two (n_planets, n_bins) arrays, got {y.shape} and {mu.shape}")
    return np.sqrt(np.mean((y - mu) ** 2, axis=0)) * PPM


def bin_points(t: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means of consecutive groups of ``n`` points (the last, shorter group dropped).

    t, y: (n_points,). Returns the mean time, the mean of y and its standard error
    ``std(y, ddof=1) / sqrt(count)`` of each group, ignoring NaNs (NaN where a group has
    fewer than two finite values).
    """
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError(f"expected two equal 1-d arrays, got {t.shape} and {y.shape}")
    if n < 1:
        raise ValueError(f"bin size must be >= 1, got {n}")
    m = t.size // n
    tb, yb = t[: m * n].reshape(m, n), y[: m * n].reshape(m, n)
    ok = np.isfinite(yb)
    count = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, yb, 0).sum(axis=1) / count
        dev = np.where(ok, yb - mean[:, None], 0)
        err = np.sqrt((dev**2).sum(axis=1) / (count - 1) / count)
    return tb.mean(axis=1), np.where(count > 0, mean, np.nan), np.where(count > 1, err, np.nan)


def detrend(
    flux: np.ndarray, model: np.ndarray, drift: np.ndarray, transit: np.ndarray
) -> np.ndarray:
    """The light curve with the fitted systematics removed: ``(flux - jitter) / drift`` with
    ``jitter = model - transit * drift`` (the fit's model is ``transit * drift + jitter``),
    that is ``transit + (flux - model) / drift``. Arrays of one shape."""
    flux, model, drift, transit = (
        np.asarray(a, dtype=float) for a in (flux, model, drift, transit)
    )
    return (flux - (model - transit * drift)) / drift


def rms_vs_bin_size(
    resid: np.ndarray, sizes: Sequence[int] | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rms of residuals averaged in bins of N points, against N (a red-noise check).

    resid: (n,), NaNs dropped first. ``sizes`` defaults to powers of two up to
    ``n // MIN_BINS``. Returns (sizes, rms, white): rms = std(bin means, ddof=1), white =
    ``std(resid, ddof=1) / sqrt(N)``, its expectation for uncorrelated (white) noise.
    Correlated (red) noise bins down slower: rms > white at large N.
    """
    r = np.asarray(resid, dtype=float).ravel()
    r = r[np.isfinite(r)]
    if r.size < 2 * MIN_BINS:
        raise ValueError(f"{r.size} finite residuals, need at least {2 * MIN_BINS}")
    if sizes is None:
        sizes = 2 ** np.arange(int(np.log2(r.size // MIN_BINS)) + 1)
    n = np.asarray(sizes, dtype=int)
    if np.any(n < 1) or np.any(r.size // n < 2):
        raise ValueError(f"bin sizes {n.tolist()} leave fewer than 2 bins of {r.size} points")
    rms = np.array([np.std(r[: (r.size // k) * k].reshape(-1, k).mean(axis=1), ddof=1) for k in n])
    return n, rms, np.std(r, ddof=1) / np.sqrt(n)


def spectral_residuals(
    flux: np.ndarray, drift: np.ndarray, transits: np.ndarray, degree: int = MAP_DRIFT_DEGREE
) -> np.ndarray:
    """Residual of every time and wavelength bin against the fitted spectrum.

    flux: (n_time, n_bins) normalised flux of one visit; drift: (n_time,) the white-light
    fit's drift; transits: (n_time, n_bins) each bin's fitted transit (:func:`bin_transits`).
    Model of bin j: ``drift * transit_j * p_j(t)``, with the bin's own polynomial drift
    ``p_j`` of ``degree`` in time (least squares over the finite samples; the spectral fit's
    chromatic drift plays this part). Returns ``flux / model - 1`` (n_time, n_bins): noise,
    jitter and what neither drift describes.
    """
    ratio = np.asarray(flux, dtype=float) / (
        np.asarray(drift, dtype=float)[:, None] * np.asarray(transits, dtype=float)
    )
    tau = np.linspace(-1.0, 1.0, ratio.shape[0])
    basis = np.vander(tau, degree + 1, increasing=True)
    out = np.full_like(ratio, np.nan)
    for j in range(ratio.shape[1]):
        ok = np.isfinite(ratio[:, j])
        if ok.sum() <= degree + 1:
            continue
        coef, *_ = np.linalg.lstsq(basis[ok], ratio[ok, j], rcond=None)
        out[:, j] = ratio[:, j] / (basis @ coef) - 1.0
    return out


def bin_transits(fit: xr.Dataset, cube: xr.Dataset, visit: int) -> np.ndarray:
    """The fitted transit of each AIRS-CH0 bin of one visit, (n_time, n_bins - 1): the
    white-light geometry (t0, a/Rs, inclination), Rp/Rs = sqrt(depth_j), and the
    limb-darkening law at the bin's wavelength and the star's temperature shifted by the
    white-light AIRS offset, as the physics fit models each bin; at the AIRS sample times."""
    from spectramind.physics.common import sample_times, transit
    from spectramind.physics.limb_darkening import limb_darkening

    wl = cube["wavelength"].values[1:]
    u1, u2 = limb_darkening(wl, float(cube.attrs["star_Ts"]))
    u1 = u1 + float(fit.attrs.get("ld_offset_airs_u1", 0.0))
    u2 = u2 + float(fit.attrs.get("ld_offset_airs_u2", 0.0))
    k = np.sqrt(np.clip(np.nan_to_num(fit["depth"].values[1:], nan=1e-6), 1e-6, 0.25))
    tr = transit(
        sample_times(cube, "time_airs")[visit],
        t0_h=float(fit["t0"].values[visit])
        + (float(fit["airs_dt"].values[visit]) if "airs_dt" in fit else 0.0),
        period_d=float(cube.attrs["star_P"]),
        a_rs=float(fit.attrs["a_rs"]),
        inc_deg=float(fit.attrs["inc_deg"]),
        k=k,
        u1=u1,
        u2=u2,
    )
    return np.asarray(tr).T


def spectrum_residuals(mu: np.ndarray, sigma: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(mu - truth) / sigma`` per element (sigma floored like :func:`z_scores`)."""
    return -z_scores(truth, mu, sigma)


def runtime_summary(bench: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, total/mean/max wall seconds, total CPU seconds, peak RSS (MB), sorted
    by total wall time (``bench`` as :func:`spectramind.budget.read_benchmarks` returns it)."""
    if bench.empty:
        return pd.DataFrame(
            columns=["rule", "jobs", "wall_s", "mean_s", "max_s", "cpu_s", "max_rss_mb"]
        )
    g = bench.groupby("rule")
    table = pd.DataFrame(
        {
            "jobs": g["s"].size(),
            "wall_s": g["s"].sum(),
            "mean_s": g["s"].mean(),
            "max_s": g["s"].max(),
            "cpu_s": g["cpu_s"].sum(min_count=1),
            "max_rss_mb": g["max_rss_mb"].max(),
        }
    ).reset_index()
    return table.sort_values("wall_s", ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- inputs
def read_frames(path: str | Path, instrument: str, n: int = 2) -> np.ndarray:
    """The first ``n`` raw frames of a signal parquet as uint16 ``(n, 32, W)``, reading one
    record batch only (a full-size AIRS-CH0 file holds 11250 frames)."""
    ny, nx = io.DETECTOR_SHAPE[instrument]
    pf = pq.ParquetFile(path)
    if pf.metadata.num_columns != ny * nx:
        raise io.DataError(path, f"{pf.metadata.num_columns} columns, expected {ny * nx}")
    batch = next(pf.iter_batches(batch_size=n))
    arr = np.column_stack([np.asarray(c.to_numpy(zero_copy_only=False)) for c in batch.columns])
    if arr.shape[0] < n:
        raise io.DataError(path, f"{arr.shape[0]} frames, expected at least {n}")
    return arr[:n].astype(np.uint16, copy=False).reshape(n, ny, nx)


# --------------------------------------------------------------------------- figures
def _colour(method: str, i: int) -> str:
    return METHOD_COLOURS.get(method, f"C{(i + 3) % 10}")


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write a PNG (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")


def frame_scale(images: Sequence[np.ndarray]) -> tuple[float, float, float]:
    """One robust colour scale for several images of a detector: (vmin, vmax, linear width).

    vmin, vmax: the 0.5th and 99.9th percentiles of all finite pixels (a few hot pixels or
    cosmic rays do not set the scale); linear width of the arcsinh stretch: the median
    absolute deviation of the faintest image (the noise level), at least 1 ADU.
    """
    finite = [np.asarray(i, dtype=float)[np.isfinite(i)] for i in images]
    finite = [f for f in finite if f.size]
    if not finite:
        return 0.0, 1.0, 1.0
    allpix = np.concatenate(finite)
    lo, hi = np.percentile(allpix, [0.5, 99.9])
    faint = min(finite, key=lambda f: float(np.median(f)))
    mad = float(np.median(np.abs(faint - np.median(faint))))
    return float(lo), float(hi if hi > lo else lo + 1), max(mad, 1.0)


def _image(
    ax: Axes, img: np.ndarray, title: str, fig: Figure, scale: tuple[float, float, float]
) -> None:
    lo, hi, width = scale
    im = ax.imshow(
        img,
        origin="lower",
        aspect="auto",
        norm=AsinhNorm(linear_width=width, vmin=lo, vmax=hi),
        cmap="magma",
        interpolation="nearest",
    )
    ax.set_title(f"{title}: median {np.nanmedian(img):.0f} ADU", fontsize=9)
    ax.set_xlabel("detector column")
    ax.set_ylabel("row")
    fig.colorbar(im, ax=ax, label="ADU (asinh)", pad=0.01)


def figure_frames(frames: Mapping[str, np.ndarray], *, planet: int | str, visit: int = 0) -> Figure:
    """The raw end read and the CDS (end - start read) of each instrument, and their
    cross-dispersion profiles.

    ``frames``: ``{"AIRS-CH0": (2, 32, 356), "FGS1": (2, 32, 32)}`` uint16, the first
    start/end read pair as :func:`read_frames` returns it. Raw and CDS images of one
    instrument share one colour scale (:func:`frame_scale`), so the bias level of the raw
    read shows against the CDS's zero. Right column: the median over the spectral columns
    (AIRS-CH0) or the mean over all columns (FGS1) of each row, for the start and end reads
    and the CDS.
    """
    fig = Figure(figsize=(14, 6.4), layout="constrained")
    axes = fig.subplots(2, 3, width_ratios=[3.2, 1, 1.3])
    for col, inst in enumerate(("AIRS-CH0", "FGS1")):
        prof = axes[col, 2]
        if inst not in frames:
            for row in range(2):
                axes[row, col].set_axis_off()
            prof.set_axis_off()
            continue
        f = np.asarray(frames[inst]).astype(float)
        start, end_, cds = f[0], f[1], f[1] - f[0]
        scale = frame_scale([end_, cds])
        for row, (kind, img) in enumerate((("raw end read", end_), ("CDS (end - start)", cds))):
            ax = axes[row, col]
            _image(ax, img, f"{inst} {kind}", fig, scale)
            if inst == "AIRS-CH0":
                for c in AIRS_SPECTRAL_COLUMNS:
                    ax.axvline(c - 0.5, color="cyan", lw=0.8, ls="--")
        # AIRS-CH0: median over the spectral columns (robust to hot pixels); FGS1: mean over
        # all columns (the compact PSF covers too few columns for a median to see it)
        cut = (
            (lambda img: np.median(img[:, slice(*AIRS_SPECTRAL_COLUMNS)], axis=1))
            if inst == "AIRS-CH0"
            else (lambda img: np.mean(img, axis=1))
        )
        rows = np.arange(f.shape[1])
        for img, label, ls in (
            (start, "raw start read", ":"),
            (end_, "raw end read", "-"),
            (cds, "CDS", "-"),
        ):
            prof.plot(rows, cut(img), ls, lw=1.3, label=label)
        prof.set_yscale("symlog", linthresh=max(scale[2] * 10, 10))
        prof.set_xlabel("row")
        prof.set_ylabel(
            ("median over spectral" if inst == "AIRS-CH0" else "mean over") + " columns (ADU)"
        )
        prof.set_title(f"{inst} cross-dispersion profile", fontsize=9)
        prof.grid(alpha=0.3)
        prof.legend(fontsize=7)
    axes[0, 0].text(
        AIRS_SPECTRAL_COLUMNS[0] + 2, 30, "spectral bins 39:321", color="cyan", fontsize=8, va="top"
    )
    fig.suptitle(f"Planet {planet}, visit {visit}: first frame pair (raw ADU, before calibration)")
    return fig


def _bin_size(t: np.ndarray, width_h: float) -> int:
    dt = float(np.nanmedian(np.diff(t))) if t.size > 1 else width_h
    return max(1, round(width_h / dt)) if dt > 0 else 1


def figure_light_curves(fit: xr.Dataset, cube: xr.Dataset, *, bin_h: float = LC_BIN_H) -> Figure:
    """Detrended white light curves of FGS1 and AIRS-CH0 (per visit) with the smooth fitted
    transit, points binned to ``bin_h`` hours, and the residuals in ppm.

    Detrended: :func:`detrend` (the fitted drift and jitter terms removed); the red line is
    the transit alone (``white_<inst>_transit`` of the physics product), so a wiggle of the
    points is a residual, not a model feature. The white-light reduced chi-square and each
    instrument's Rp/Rs are in the titles; detected ingress and egress dotted.
    """
    planet = fit.attrs.get("planet_id", cube.attrs.get("planet_id"))
    t = cube["time"].values
    nv = cube.sizes["visit"]
    nb = _bin_size(t, bin_h)
    fig = Figure(figsize=(max(6.5 * nv, 9.0), 7.5), layout="constrained")
    axes = np.asarray(
        fig.subplots(4, nv, sharex=True, height_ratios=[3, 1.2, 3, 1.2], squeeze=False)
    )
    has_fit = "white_fgs" in fit
    for v in range(nv):
        for k, (name, inst) in enumerate((("fgs", "FGS1"), ("airs", "AIRS-CH0"))):
            ax, axr = axes[2 * k, v], axes[2 * k + 1, v]
            title = f"{inst}, visit {v}"
            if has_fit:
                flux = fit[f"white_{name}"].values[v]
                drift = fit[f"white_{name}_drift"].values[v]
                model = fit[f"white_{name}_model"].values[v]
                key = f"white_{name}_transit"
                tr = fit[key].values[v] if key in fit else model / drift
                y = detrend(flux, model, drift, tr)
                resid = (y - tr) * PPM
                ax.plot(t, y, ".", ms=2.5, color="0.65", label="data, drift and jitter removed")
                tb, yb, eb = bin_points(t, y, nb)
                ax.errorbar(
                    tb, yb, yerr=eb, fmt="o", ms=3.5, color="k", lw=1, label=f"binned ({nb} pts)"
                )
                order = np.argsort(t)
                ax.plot(t[order], tr[order], "-", color="C3", lw=1.8, label="fitted transit")
                axr.plot(t, resid, ".", ms=2.5, color="0.65")
                _, rb, rbe = bin_points(t, resid, nb)
                axr.errorbar(tb, rb, yerr=rbe, fmt="o", ms=3, color="k", lw=1)
                axr.axhline(0, color="C3", lw=1)
                rms = float(np.sqrt(np.nanmean(resid**2)))
                axr.text(
                    0.01,
                    0.95,
                    f"rms {rms:.0f} ppm",
                    transform=axr.transAxes,
                    fontsize=8,
                    va="top",
                    backgroundcolor="white",
                )
                kk = fit.attrs.get(f"k_{name}", float("nan"))
                ke = fit.attrs.get(f"k_{name}_err", float("nan"))
                title += f": Rp/Rs = {kk:.4f} +/- {ke:.4f}"
            else:
                white = np.nanmean(
                    cube["flux"].values[v, :, :1]
                    if name == "fgs"
                    else cube["flux"].values[v, :, 1:],
                    axis=1,
                )
                ax.plot(t, white, ".", ms=3.5, color="0.35", label="normalised flux (no fit)")
                axr.text(0.5, 0.5, "no fit", transform=axr.transAxes, ha="center", va="center")
            for a in (ax, axr):
                for edge in ("ingress", "egress"):
                    a.axvline(float(cube[edge].values[v]), color="C0", ls=":", lw=1)
            ax.set_ylabel(f"{inst} rel. flux")
            axr.set_ylabel("resid. (ppm)")
            ax.set_title(title, fontsize=9)
            ax.legend(fontsize=7, loc="lower left")
            ax.grid(alpha=0.3)
        axes[-1, v].set_xlabel("time since visit start (h)")
    flag = fit.attrs.get("flag", "?")
    chi2 = fit.attrs.get("white_chi2_red", float("nan"))
    fig.suptitle(
        f"Planet {planet}: detrended white light curves and the fitted transit "
        f"(fit flag {flag}, white-light chi2_red = {chi2:.2f})\n"
        "dotted: detected ingress / egress",
        fontsize=10,
    )
    return fig


def figure_noise(fit: xr.Dataset) -> Figure:
    """rms of the white-light residuals binned over N time bins against N, per instrument and
    visit, with the white-noise line ``sigma_1 / sqrt(N)``; beta = the median ratio."""
    planet = fit.attrs.get("planet_id", "")
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=False)
    if "white_fgs" not in fit:
        for ax in axes:
            ax.text(0.5, 0.5, "no fit", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        return fig
    for ax, (name, inst) in zip(axes, (("fgs", "FGS1"), ("airs", "AIRS-CH0")), strict=True):
        for v in range(fit.sizes["visit"]):
            drift = fit[f"white_{name}_drift"].values[v]
            resid = (fit[f"white_{name}"].values[v] - fit[f"white_{name}_model"].values[v]) / drift
            n, rms, white = rms_vs_bin_size(resid)
            beta = float(np.median(rms / white))
            c = f"C{v}"
            ax.loglog(n, rms * PPM, "o-", color=c, ms=4, label=f"visit {v}: beta = {beta:.2f}")
            ax.loglog(n, white * PPM, "--", color=c, lw=1, label="white noise 1/sqrt(N)")
        ax.set_xlabel("bin size N (time bins)")
        ax.set_ylabel("rms of binned residuals (ppm)")
        ax.set_title(inst, fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(
        f"Planet {planet}: residual rms against bin size (red noise: points above the dashed line)",
        fontsize=10,
    )
    return fig


def figure_residual_map(
    fit: xr.Dataset,
    cube: xr.Dataset,
    *,
    group: int = MAP_GROUP,
    degree: int = MAP_DRIFT_DEGREE,
    transits: Callable[[xr.Dataset, xr.Dataset, int], np.ndarray] | None = None,
) -> Figure:
    """Time x wavelength map of :func:`spectral_residuals` (ppm) of each visit, AIRS bins
    averaged ``group`` at a time, on a symmetric robust colour scale (99th percentile of |r|).

    ``transits(fit, cube, visit)``: the bins' transits, :func:`bin_transits` by default."""
    planet = fit.attrs.get("planet_id", cube.attrs.get("planet_id"))
    nv = cube.sizes["visit"]
    fig = Figure(figsize=(6.0 * nv + 1.5, 4.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, nv, squeeze=False)[0])
    if "white_airs" not in fit or "t0" not in fit:
        for ax in axes:
            ax.text(0.5, 0.5, "no fit", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        return fig
    t = cube["time"].values
    wl = cube["wavelength"].values[1:]
    nb = (wl.size // group) * group
    wl_g = wl[:nb].reshape(-1, group).mean(axis=1)
    maps = []
    for v in range(nv):
        r = spectral_residuals(
            cube["flux"].values[v, :, 1:],
            fit["white_airs_drift"].values[v],
            transits(fit, cube, v) if transits is not None else bin_transits(fit, cube, v),
            degree,
        )
        with np.errstate(all="ignore"):
            maps.append(np.nanmean(r[:, :nb].reshape(r.shape[0], -1, group), axis=2) * PPM)
    finite = np.concatenate([m[np.isfinite(m)] for m in maps])
    lim = float(np.percentile(np.abs(finite), 99)) if finite.size else 1.0
    for v, (ax, m) in enumerate(zip(axes, maps, strict=True)):
        im = ax.pcolormesh(
            wl_g, t, m, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest", rasterized=True
        )
        for edge in ("ingress", "egress"):
            ax.axhline(float(cube[edge].values[v]), color="k", ls=":", lw=1)
        ax.set_xlabel("wavelength (um)")
        ax.set_ylabel("time since visit start (h)")
        ax.set_title(f"visit {v}: rms {np.sqrt(np.nanmean(m**2)):.0f} ppm", fontsize=9)
        fig.colorbar(im, ax=ax, label="residual (ppm)", pad=0.01)
    fig.suptitle(
        f"Planet {planet}: AIRS-CH0 residuals against each bin's fitted transit x drift\n"
        f"(white-light drift x degree-{degree} polynomial per bin; {group} bins per column)",
        fontsize=10,
    )
    return fig


def figure_calibration_qa(cube: xr.Dataset) -> Figure:
    """Calibration QA series of the cube over time, per visit: FGS1 centroid offsets, AIRS
    trace position offset and width, background of both, masked pixel fraction, and pixels
    masked beyond the static mask (cosmic rays and saturation); the cosmic-ray count of each
    visit in the legend. Series the cube does not hold are left out."""
    planet = cube.attrs.get("planet_id", "")
    t = cube["time"].values
    panels = [
        (("fgs_centroid_y", "fgs_centroid_x"), "FGS1 centroid - median (pixel)", True),
        (("airs_trace_y",), "AIRS trace row - median (pixel)", True),
        (("airs_trace_width",), "AIRS trace width (pixel)", False),
        (("fgs_background", "airs_background"), "background (count / pixel)", False),
        (("fgs_masked_fraction", "airs_masked_fraction"), "masked pixels (%)", False),
        (
            ("fgs_transient_pixels", "airs_transient_pixels"),
            "transient masked pixels per pair",
            False,
        ),
    ]
    panels = [p for p in panels if any(n in cube for n in p[0])]
    fig = Figure(figsize=(11, 1.7 * len(panels) + 1.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0])
    styles = ("-", "--")
    for ax, (names, label, centre) in zip(axes, panels, strict=True):
        for v in range(cube.sizes["visit"]):
            for j, n in enumerate(names):
                if n not in cube:
                    continue
                y = cube[n].values[v].astype(float)
                if centre:
                    y = y - np.nanmedian(y)
                if n.endswith("masked_fraction"):
                    y = 100 * y
                ax.plot(t, y, styles[j], color=f"C{v}", lw=1.0, label=f"{n}, visit {v}")
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best", ncol=2)
    axes[-1].set_xlabel("time since visit start (h)")
    extra = ""
    if "cosmic_rays" in cube:
        extra = "; cosmic rays flagged per visit: " + ", ".join(
            str(int(c)) for c in cube["cosmic_rays"].values
        )
    fig.suptitle(f"Planet {planet}: calibration QA per time bin{extra}", fontsize=10)
    return fig


def figure_training(history: pd.DataFrame) -> Figure:
    """Training curve from ``results/model/history.csv``: the loss per epoch (left) and the
    challenge score of the fit and validation planets (right), per ensemble member; the
    best validation epoch of each member marked."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_l, ax_s = fig.subplots(1, 2)
    if history.empty or "epoch" not in history:
        for ax in (ax_l, ax_s):
            ax.text(0.5, 0.5, "empty history", ha="center", va="center", transform=ax.transAxes)
        return fig
    members = history["member"] if "member" in history else pd.Series(0, index=history.index)
    for m, h in history.groupby(members.to_numpy()):
        c = f"C{int(m) % 10}"
        ax_l.plot(h["epoch"], h["loss"], "-", color=c, lw=1.2, label=f"member {m}")
        for col, ls in (("fit_score", "--"), ("val_score", "-")):
            if col in h:
                ax_s.plot(h["epoch"], h[col], ls, color=c, lw=1.2, label=f"{col}, member {m}")
        if "val_score" in h and h["val_score"].notna().any():
            best = h.loc[h["val_score"].idxmax()]
            ax_s.plot([best["epoch"]], [best["val_score"]], "*", color=c, ms=10)
    for ax in (ax_l, ax_s):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("training loss (mean over batches)")
    ax_s.set_xlabel("epoch")
    ax_s.set_ylabel("challenge score")
    for ax in (ax_l, ax_s):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Model training: loss and score per epoch (epoch 0: the prior); star: best")
    return fig


def figure_spectrum(
    wavelength: np.ndarray,
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    truth: np.ndarray | None = None,
    planet: int | str = "",
    split: str = "",
) -> Figure:
    """mu +/- sigma of each method (ppm) against wavelength, and the truth when known.

    ``predictions``: ``{method: (mu (283,), sigma (283,))}``; bin 0 (FGS1, wl_1) is drawn
    as a point with an error bar on the left panel, the 282 AIRS bins as a band. With the
    truth a second row shows :func:`spectrum_residuals` ``(mu - truth) / sigma`` per bin
    with the +/- 1 and 2 sigma levels (axes 2 and 3).
    """
    wl = np.asarray(wavelength, dtype=float)
    fig = Figure(figsize=(12, 5 if truth is None else 8), layout="constrained")
    if truth is None:
        ax_f, ax_a = fig.subplots(1, 2, width_ratios=[1, 5], sharey=True)
    else:
        grid = fig.subplots(2, 2, width_ratios=[1, 5], height_ratios=[5, 3], sharey="row")
        ax_f, ax_a = grid[0]
        rf, ra = grid[1]
    n = max(len(predictions), 1)
    for i, (method, (mu, sigma)) in enumerate(predictions.items()):
        mu, sigma = np.asarray(mu) * PPM, np.asarray(sigma) * PPM
        c = _colour(method, i)
        label = method
        if truth is not None:
            rmse = float(np.sqrt(np.mean((mu - np.asarray(truth) * PPM) ** 2)))
            label += f" (RMSE {rmse:.0f} ppm)"
        ax_a.fill_between(wl[1:], mu[1:] - sigma[1:], mu[1:] + sigma[1:], color=c, alpha=0.2, lw=0)
        ax_a.plot(wl[1:], mu[1:], color=c, lw=1.2, label=label)
        dx = 0.03 * (i + 1) / (n + 1) - 0.015 * (truth is None)  # methods right of the truth
        ax_f.errorbar([wl[0] + dx], [mu[0]], yerr=[sigma[0]], fmt="o", color=c, ms=4, capsize=3)
    if truth is not None:
        y = np.asarray(truth) * PPM
        ax_a.plot(wl[1:], y[1:], color="k", lw=1.0, label="truth")
        ax_f.plot([wl[0]], [y[0]], "k*", ms=9)
        for i, (method, (mu, sigma)) in enumerate(predictions.items()):
            r = spectrum_residuals(np.asarray(mu), np.asarray(sigma), np.asarray(truth))
            c = _colour(method, i)
            ra.plot(
                wl[1:],
                r[1:],
                ".-",
                color=c,
                lw=0.6,
                ms=2.5,
                label=f"{method}: std {np.std(r):.2f}",
            )
            rf.plot([wl[0]], [r[0]], "o", color=c, ms=5)
        for ax in (rf, ra):
            for lvl, ls in ((0, "-"), (1, "--"), (-1, "--"), (2, ":"), (-2, ":")):
                ax.axhline(lvl, color="k", lw=0.7, ls=ls)
            ax.grid(alpha=0.3)
        rf.set_ylabel("(mu - truth) / sigma")
        rf.set_xticks([wl[0]], [f"{wl[0]:.2f}"])
        rf.set_xlim(wl[0] - 0.05, wl[0] + 0.05)
        ra.set_xlabel("wavelength (um)")
        ra.legend(fontsize=8, loc="upper right")
    ax_a.set_xlabel("wavelength (um), AIRS-CH0 wl_2..wl_283")
    ax_f.set_xlabel("FGS1 (wl_1)")
    ax_f.set_xticks([wl[0]], [f"{wl[0]:.2f}"])
    ax_f.set_xlim(wl[0] - 0.05, wl[0] + 0.05)
    ax_f.set_ylabel("transit depth (Rp/Rs)^2 (ppm)")
    ax_a.legend(fontsize=8, loc="best")
    ax_a.grid(alpha=0.3)
    ax_f.grid(alpha=0.3)
    title = f"Planet {planet}" + (f" ({split} split)" if split else "")
    fig.suptitle(
        title
        + ": predicted spectrum mu +/- 1 sigma"
        + (" against the truth" if truth is not None else "")
    )
    return fig


def figure_per_bin(
    wavelength: np.ndarray,
    per_method: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    split: str = "",
    score_floor: float = -1.0,
) -> Figure:
    """Unclipped challenge score and RMSE (ppm) of each bin for each method.

    ``per_method``: ``{method: (score per bin (283,), rmse_ppm per bin (283,))}``. Scores
    below ``score_floor`` are drawn at the floor (a bad constant baseline would squash the
    axis) and counted in the legend.
    """
    wl = np.asarray(wavelength, dtype=float)
    fig = Figure(figsize=(12, 7), layout="constrained")
    (af, aa), (rf, ra) = fig.subplots(2, 2, width_ratios=[1, 5], sharey="row")
    for i, (method, (score, rmse)) in enumerate(per_method.items()):
        c = _colour(method, i)
        score = np.asarray(score, dtype=float)
        n_low = int(np.sum(score < score_floor))
        shown = np.maximum(score, score_floor)
        label = method + (f" ({n_low} bins < {score_floor:g})" if n_low else "")
        aa.plot(wl[1:], shown[1:], color=c, lw=1.2, label=label)
        af.plot([wl[0]], [shown[0]], "o", color=c)
        ra.plot(wl[1:], rmse[1:], color=c, lw=1.2, label=method)
        rf.plot([wl[0]], [rmse[0]], "o", color=c)
    aa.axhline(0, color="k", lw=0.8)
    af.axhline(0, color="k", lw=0.8)
    af.set_ylabel("score per bin (unclipped)")
    rf.set_ylabel("RMSE per bin (ppm)")
    ra.set_yscale("log")
    for ax in (af, rf):
        ax.set_xticks([wl[0]], [f"{wl[0]:.2f}\nFGS1"])
    ra.set_xlabel("wavelength (um)")
    aa.legend(fontsize=8)
    for ax in (af, aa, rf, ra):
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"Score and RMSE per wavelength bin{f' ({split} split)' if split else ''}; the FGS1 bin "
        f"weighs {metric.FGS_WEIGHT:g}x in the score"
    )
    return fig


def figure_zscores(zs: Mapping[str, np.ndarray], *, split: str = "", bins: int = 60) -> Figure:
    """Histogram of z = (y - mu) / sigma of every element, per method, with the unit Gaussian."""
    n = max(len(zs), 1)
    fig = Figure(figsize=(4.2 * n + 0.5, 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True, squeeze=False)[0])
    grid = np.linspace(-Z_RANGE, Z_RANGE, 400)
    pdf = np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi)
    for i, (ax, (method, z)) in enumerate(zip(axes, zs.items(), strict=False)):
        z = np.asarray(z, dtype=float).ravel()
        inside = z[np.abs(z) <= Z_RANGE]
        ax.hist(
            inside,
            bins=bins,
            range=(-Z_RANGE, Z_RANGE),
            density=False,
            weights=np.full(inside.size, 1.0 / (z.size * (2 * Z_RANGE / bins))),
            color=_colour(method, i),
            alpha=0.6,
            label=f"{method}",
        )
        ax.plot(grid, pdf, "k-", lw=1.2, label="N(0, 1)")
        out = int(z.size - inside.size)
        ax.set_title(
            f"{method}: std(z) = {np.std(z):.2f}, |z| > {Z_RANGE:g}: {out / z.size:.1%}", fontsize=9
        )
        ax.set_xlabel("z = (truth - mu) / sigma")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("density")
    fig.suptitle(
        f"z-scores{f' ({split} split)' if split else ''}: a calibrated sigma follows N(0, 1); "
        "wider = over-confident"
    )
    return fig


def figure_coverage(
    curves: Mapping[str, np.ndarray], *, nominal: np.ndarray = NOMINAL_LEVELS, split: str = ""
) -> Figure:
    """Empirical against nominal coverage of the central intervals, per method."""
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    for i, (method, emp) in enumerate(curves.items()):
        ax.plot(nominal, emp, "-", color=_colour(method, i), lw=1.6, label=method)
    for p in (0.6827, 0.9545):
        ax.axvline(p, color="0.7", lw=0.8, ls=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal coverage (Gaussian central interval)")
    ax.set_ylabel("empirical coverage")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(
        f"Coverage{f' ({split} split)' if split else ''}: below the diagonal = over-confident",
        fontsize=10,
    )
    return fig


def figure_runtime(summary: pd.DataFrame) -> Figure:
    """Horizontal bars of total wall and CPU seconds per rule (:func:`runtime_summary`)."""
    n = max(len(summary), 1)
    fig = Figure(figsize=(10, 1.2 + 0.38 * n), layout="constrained")
    ax = fig.subplots()
    if summary.empty:
        ax.text(0.5, 0.5, "no benchmark files", ha="center", va="center")
        ax.set_axis_off()
        return fig
    s = summary.iloc[::-1]
    y = np.arange(len(s))
    ax.barh(y + 0.2, s["wall_s"], height=0.4, color="C0", label="wall (sum over jobs)")
    ax.barh(y - 0.2, s["cpu_s"].fillna(0), height=0.4, color="C1", label="CPU (sum over jobs)")
    ax.set_yticks(
        y,
        [
            f"{r} ({j} job{'s' if j != 1 else ''})"
            for r, j in zip(s["rule"], s["jobs"], strict=True)
        ],
    )
    xmax = float(np.nanmax(s[["wall_s", "cpu_s"]].to_numpy(dtype=float)))
    for yi, (wall, mean, rss) in enumerate(
        zip(s["wall_s"], s["mean_s"], s["max_rss_mb"], strict=True)
    ):
        rss_txt = f", {rss:.0f} MB" if np.isfinite(rss) else ""
        ax.text(wall + 0.01 * xmax, yi + 0.2, f"{mean:.1f} s/job{rss_txt}", va="center", fontsize=7)
    ax.set_xlim(0, xmax * 1.25)
    ax.set_xlabel("seconds")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(
        f"Run time per rule (benchmark files; total wall {summary['wall_s'].sum() / 60:.1f} min "
        "of job time, jobs may overlap)",
        fontsize=10,
    )
    return fig


def score_table_html(table: pd.DataFrame, *, title: str = "Challenge scores") -> str:
    """The score table (``results/scores/table.csv``) as a standalone HTML page."""
    fmt = {
        "score": "{:.4f}",
        "rmse_fgs_ppm": "{:.0f}",
        "rmse_airs_ppm": "{:.0f}",
        "coverage_1sigma": "{:.3f}",
        "coverage_2sigma": "{:.3f}",
    }
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for _, r in table.iterrows():
        cells = []
        for c in table.columns:
            v = r[c]
            text = (
                fmt[c].format(v)
                if c in fmt and isinstance(v, (int, float)) and np.isfinite(v)
                else str(v)
            )
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    style = (
        "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}"
        "th{background:#f0f0f0}td:first-child,td:nth-child(2){text-align:left}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h2>{html.escape(title)}</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></body></html>\n"
    )


# --------------------------------------------------------------------------- file-level entry points
def _read_predictions(files: Mapping[str, str | Path]) -> dict[str, pd.DataFrame]:
    return {m: pd.read_csv(f) for m, f in files.items()}


def _planet_row(pred: pd.DataFrame, planet: int) -> tuple[np.ndarray, np.ndarray]:
    rows = pred[pred["planet_id"] == planet]
    if len(rows) != 1:
        raise ValueError(f"{len(rows)} prediction rows for planet {planet}, expected 1")
    return rows[io.WL_COLUMNS].to_numpy(float)[0], rows[io.SIGMA_COLUMNS].to_numpy(float)[0]


def diagnose_planet(
    *,
    planet: int,
    root: str | Path,
    split: str,
    cube: str | Path,
    fit: str | Path,
    predictions: Mapping[str, str | Path],
    truth: str | Path | None,
    out_frames: str | Path,
    out_light_curves: str | Path,
    out_spectrum: str | Path,
    out_noise: str | Path,
    out_residual_map: str | Path,
    out_calibration_qa: str | Path,
    drift_degree: int = MAP_DRIFT_DEGREE,
) -> None:
    """The figures of one planet from its raw files, cube, physics fit and predictions."""
    frames = {
        inst: read_frames(io.signal_path(root, split, planet, inst, 0), inst)
        for inst in io.INSTRUMENTS
    }
    save_figure(figure_frames(frames, planet=planet), out_frames)
    with xr.open_dataset(cube) as c, xr.open_dataset(fit) as f:
        c, f = c.load(), f.load()
    save_figure(figure_light_curves(f, c), out_light_curves)
    save_figure(figure_noise(f), out_noise)
    save_figure(figure_residual_map(f, c, degree=drift_degree), out_residual_map)
    save_figure(figure_calibration_qa(c), out_calibration_qa)
    preds = {m: _planet_row(df, planet) for m, df in _read_predictions(predictions).items()}
    y = None
    if truth is not None:
        from spectramind.workflow_io import truth_for

        y = truth_for(truth, split, [planet])[0]
    save_figure(
        figure_spectrum(c["wavelength"].values, preds, truth=y, planet=planet, split=split),
        out_spectrum,
    )


def diagnose_split(
    *,
    split: str,
    predictions: Mapping[str, str | Path],
    truth: str | Path,
    train_labels: str | Path,
    wavelengths: str | Path,
    out_per_bin: str | Path,
    out_zscores: str | Path,
    out_coverage: str | Path,
) -> dict[str, dict[str, float]]:
    """Per-bin score and RMSE, z-scores and coverage of every method on a split with truth.

    Returns ``{method: {"score", "z_std", "coverage_1sigma"}}`` (for the log).
    """
    from spectramind.workflow_io import labels_array, labels_path

    wl = io.read_wavelengths(wavelengths)
    truth_df = pd.read_csv(labels_path(truth, split))
    naive_mean, naive_sigma = metric.naive_stats(labels_array(train_labels, "train"))
    per_bin, zs, cov, summary = {}, {}, {}, {}
    for method, pred in _read_predictions(predictions).items():
        a = metric.align(truth_df, pred, allow_extra=True)
        scores = metric.per_bin_scores(
            a.y_true, a.mu, a.sigma, naive_mean=naive_mean, naive_sigma=naive_sigma
        )
        per_bin[method] = (scores, rmse_per_bin(a.y_true, a.mu))
        zs[method] = z_scores(a.y_true, a.mu, a.sigma)
        cov[method] = coverage_curve(a.y_true, a.mu, a.sigma)
        summary[method] = {
            "score": metric.challenge_score(
                a.y_true, a.mu, a.sigma, naive_mean=naive_mean, naive_sigma=naive_sigma
            ),
            "z_std": float(np.std(zs[method])),
            "coverage_1sigma": float(coverage_curve(a.y_true, a.mu, a.sigma, [0.6827])[0]),
        }
    save_figure(figure_per_bin(wl, per_bin, split=split), out_per_bin)
    save_figure(figure_zscores(zs, split=split), out_zscores)
    save_figure(figure_coverage(cov, split=split), out_coverage)
    return summary


def diagnose_runtime(*, benchmarks: str | Path, out: str | Path) -> pd.DataFrame:
    """The run-time figure from ``results/benchmarks/<rule>/<key>.tsv``; returns the summary."""
    from spectramind.budget import read_benchmarks

    summary = runtime_summary(read_benchmarks(benchmarks))
    save_figure(figure_runtime(summary), out)
    return summary


def diagnose_training(*, history: str | Path, out: str | Path) -> pd.DataFrame:
    """The training-curve figure from ``results/model/history.csv``; returns the history."""
    table = pd.read_csv(history)
    missing = {"epoch", "loss"} - set(table.columns)
    if missing:
        raise ValueError(f"{history}: no column(s) {sorted(missing)} (a training history has them)")
    save_figure(figure_training(table), out)
    return table
