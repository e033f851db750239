"""Diagnostic numbers and figures of a run (rules ``diagnose_*``; PNGs for the HTML report).

Numbers (pure functions, arrays in, arrays out):

* :func:`z_scores`       ``(y - mu) / sigma`` per element;
* :func:`coverage_curve` the fraction of true values inside the central interval of each
  nominal probability (a calibrated Gaussian prediction lies on the diagonal);
* :func:`rmse_per_bin`   the RMSE of each wavelength bin in ppm.

Figures (each returns a :class:`matplotlib.figure.Figure`; no pyplot, so no global state):

* per planet: :func:`figure_frames` (a raw AIRS-CH0 and FGS1 frame and their CDS),
  :func:`figure_light_curves` (white light curves, the fitted transit model, residuals),
  :func:`figure_spectrum` (mu +/- sigma of each method against the truth when known);
* across planets: :func:`figure_per_bin` (score and RMSE per bin), :func:`figure_zscores`
  (z-score histograms against a unit Gaussian), :func:`figure_coverage` (coverage against
  nominal), :func:`figure_runtime` (wall and CPU time per rule from the benchmark files);
* :func:`score_table_html`: the score table as a small HTML page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from spectramind import io, metric

__all__ = [
    "AIRS_SPECTRAL_COLUMNS",
    "NOMINAL_LEVELS",
    "Z_RANGE",
    "coverage_curve",
    "diagnose_planet",
    "diagnose_runtime",
    "diagnose_split",
    "figure_coverage",
    "figure_frames",
    "figure_light_curves",
    "figure_per_bin",
    "figure_runtime",
    "figure_spectrum",
    "figure_zscores",
    "read_frames",
    "rmse_per_bin",
    "runtime_summary",
    "save_figure",
    "score_table_html",
    "z_scores",
]

#: AIRS-CH0 detector columns holding the 282 spectral bins ([start, stop)).
AIRS_SPECTRAL_COLUMNS = (39, 321)
#: Nominal central probabilities of the coverage curve.
NOMINAL_LEVELS = np.round(np.linspace(0.05, 0.99, 48), 4)
#: Range of the z-score histograms; values beyond are counted, not drawn.
Z_RANGE = 5.0
PPM = 1e6
#: Colours per prediction method (others cycle through matplotlib's default colours).
METHOD_COLOURS = {"constant": "#7f7f7f", "physics": "#1f77b4", "model": "#d62728"}
DPI = 110


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


def _image(ax: Axes, img: np.ndarray, title: str, label: str, fig: Figure) -> None:
    finite = img[np.isfinite(img)]
    lo, hi = np.percentile(finite, [1, 99.5]) if finite.size else (0, 1)
    im = ax.imshow(
        img,
        origin="lower",
        aspect="auto",
        vmin=lo,
        vmax=hi if hi > lo else lo + 1,
        cmap="magma",
        interpolation="nearest",
    )
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("detector column")
    ax.set_ylabel("row")
    fig.colorbar(im, ax=ax, label=label, pad=0.01)


def figure_frames(frames: Mapping[str, np.ndarray], *, planet: int | str, visit: int = 0) -> Figure:
    """A raw frame and the CDS (end - start read) of each instrument.

    ``frames``: ``{"AIRS-CH0": (2, 32, 356), "FGS1": (2, 32, 32)}`` uint16, the first
    start/end read pair as :func:`read_frames` returns it.
    """
    fig = Figure(figsize=(12, 6.4), layout="constrained")
    axes = fig.subplots(2, 2, width_ratios=[3.2, 1])
    for row, (kind, fn) in enumerate(
        (
            ("raw end read", lambda f: f[1].astype(float)),
            ("CDS (end - start)", lambda f: f[1].astype(float) - f[0].astype(float)),
        )
    ):
        for col, inst in enumerate(("AIRS-CH0", "FGS1")):
            ax = axes[row, col]
            if inst not in frames:
                ax.set_axis_off()
                continue
            _image(ax, fn(np.asarray(frames[inst])), f"{inst} {kind}", "ADU", fig)
            if inst == "AIRS-CH0":
                for c in AIRS_SPECTRAL_COLUMNS:
                    ax.axvline(c - 0.5, color="cyan", lw=0.8, ls="--")
    axes[0, 0].text(
        AIRS_SPECTRAL_COLUMNS[0] + 2, 30, "spectral bins 39:321", color="cyan", fontsize=8, va="top"
    )
    fig.suptitle(f"Planet {planet}, visit {visit}: first frame pair (raw ADU, before calibration)")
    return fig


def figure_light_curves(fit: xr.Dataset, cube: xr.Dataset) -> Figure:
    """White light curves of FGS1 and AIRS-CH0 (per visit) divided by the fitted drift, the
    fitted model (transit, with the jitter terms when fitted) likewise, and the residuals in
    ppm; the detected contacts marked."""
    planet = fit.attrs.get("planet_id", cube.attrs.get("planet_id"))
    t = cube["time"].values
    nv = cube.sizes["visit"]
    fig = Figure(figsize=(max(6.5 * nv, 9.0), 7.5), layout="constrained")
    axes = np.asarray(
        fig.subplots(4, nv, sharex=True, height_ratios=[3, 1.2, 3, 1.2], squeeze=False)
    )
    has_fit = "white_fgs" in fit
    for v in range(nv):
        for k, (name, inst) in enumerate((("fgs", "FGS1"), ("airs", "AIRS-CH0"))):
            ax, axr = axes[2 * k, v], axes[2 * k + 1, v]
            if has_fit:
                flux = fit[f"white_{name}"].values[v]
                drift = fit[f"white_{name}_drift"].values[v]
                model = fit[f"white_{name}_model"].values[v]
                ax.plot(t, flux / drift, ".", ms=3.5, color="0.35", label="data / drift")
                ax.plot(
                    t,
                    model / drift,
                    "-",
                    color="C3",
                    lw=1.6,
                    label=f"fitted model / drift, Rp/Rs = {fit.attrs.get(f'k_{name}', float('nan')):.4f}",
                )
                resid = (flux - model) * PPM
                axr.plot(t, resid, ".", ms=3, color="0.35")
                axr.axhline(0, color="C3", lw=1)
                rms = float(np.sqrt(np.nanmean(resid**2)))
                axr.text(
                    0.01, 0.95, f"rms {rms:.0f} ppm", transform=axr.transAxes, fontsize=8, va="top"
                )
            else:
                white = np.nanmean(
                    cube["flux"].values[v, :, :1]
                    if name == "fgs"
                    else cube["flux"].values[v, :, 1:],
                    axis=1,
                )
                ax.plot(t, white, ".", ms=3.5, color="0.35", label="normalised flux (no fit)")
            for a in (ax, axr):
                for edge in ("ingress", "egress"):
                    a.axvline(float(cube[edge].values[v]), color="C0", ls=":", lw=1)
            ax.set_ylabel(f"{inst} rel. flux")
            axr.set_ylabel("resid. (ppm)")
            ax.set_title(f"{inst}, visit {v}", fontsize=9)
            ax.legend(fontsize=7, loc="lower left")
        axes[-1, v].set_xlabel("time since visit start (h)")
    flag = fit.attrs.get("flag", "?")
    fig.suptitle(
        f"Planet {planet}: white light curves, fitted transit (fit flag {flag})\n"
        "dotted: detected ingress / egress",
        fontsize=10,
    )
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
    as a point with an error bar on the left panel, the 282 AIRS bins as a band.
    """
    wl = np.asarray(wavelength, dtype=float)
    fig = Figure(figsize=(12, 5), layout="constrained")
    ax_f, ax_a = fig.subplots(1, 2, width_ratios=[1, 5], sharey=True)
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
) -> None:
    """The three figures of one planet from its raw files, cube, physics fit and predictions."""
    frames = {
        inst: read_frames(io.signal_path(root, split, planet, inst, 0), inst)
        for inst in io.INSTRUMENTS
    }
    save_figure(figure_frames(frames, planet=planet), out_frames)
    with xr.open_dataset(cube) as c, xr.open_dataset(fit) as f:
        c, f = c.load(), f.load()
    save_figure(figure_light_curves(f, c), out_light_curves)
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
