"""Diagnostic numbers (known answers), the figures, and the `diagnose` rules' products."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import QuadMesh

from spectramind import diagnostics as dg
from spectramind import io

N_QUANTILES = 20_000
# z built from the N exact quantiles (k + 0.5) / N of N(0, 1): the empirical coverage of any
# interval differs from its probability by at most one quantile step on each side.
COVERAGE_ATOL = 2.0 / N_QUANTILES
# sums of the float32-ish benchmark numbers in the table below
RUNTIME_RTOL = 1e-12


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails for anything that is not a PNG."""
    data = Path(path).read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def exact_normal_z(n: int = N_QUANTILES) -> np.ndarray:
    nd = NormalDist()
    return np.array([nd.inv_cdf((k + 0.5) / n) for k in range(n)])


# --------------------------------------------------------------------------- numbers
def test_z_scores_known_values_and_sigma_floor() -> None:
    z = dg.z_scores(np.array([[1.0, 2.0, 0.5]]), np.zeros((1, 3)), np.array([[1.0, 2.0, 0.0]]))
    np.testing.assert_array_equal(z[0, :2], [1.0, 1.0])
    assert z[0, 2] == pytest.approx(0.5 / 1e-15)
    with pytest.raises(ValueError, match="shapes differ"):
        dg.z_scores(np.zeros(3), np.zeros(2), np.ones(3))


def test_coverage_of_a_calibrated_prediction_is_the_nominal_level() -> None:
    z = exact_normal_z()
    mu, sigma = np.full(z.size, 0.015), np.full(z.size, 3e-5)
    y = mu + sigma * z
    cov = dg.coverage_curve(y, mu, sigma)
    np.testing.assert_allclose(cov, dg.NOMINAL_LEVELS, atol=COVERAGE_ATOL, rtol=0)


def test_coverage_of_an_over_confident_prediction_is_below_nominal() -> None:
    z = exact_normal_z()
    y, mu = z * 2e-5, np.zeros(z.size)
    cov = dg.coverage_curve(y, mu, np.full(z.size, 1e-5), [0.6827])  # sigma half the true scatter
    # |z_true| <= 0.5 * Phi^-1(0.84135) = 0.5: P = 0.38292
    assert cov[0] == pytest.approx(
        2 * NormalDist().cdf(0.5 * NormalDist().inv_cdf((1 + 0.6827) / 2)) - 1, abs=COVERAGE_ATOL
    )
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        dg.coverage_curve(y, mu, np.ones(z.size), [1.0])


def test_rmse_per_bin_in_ppm() -> None:
    y = np.zeros((2, 3))
    mu = np.array([[1e-4, 0.0, 3e-6], [-1e-4, 0.0, -4e-6]])
    np.testing.assert_allclose(dg.rmse_per_bin(y, mu), [100.0, 0.0, np.sqrt(12.5)], rtol=1e-12)
    with pytest.raises(ValueError):
        dg.rmse_per_bin(np.zeros(3), np.zeros(3))


def test_runtime_summary_aggregates_per_rule() -> None:
    bench = pd.DataFrame(
        {
            "rule": ["a", "a", "b"],
            "key": ["1", "2", "x"],
            "s": [1.5, 2.5, 10.0],
            "max_rss_mb": [100.0, 300.0, np.nan],
            "cpu_s": [1.0, 2.0, np.nan],
        }
    )
    t = dg.runtime_summary(bench)
    assert t["rule"].tolist() == ["b", "a"]  # sorted by total wall time
    a = t.set_index("rule").loc["a"]
    assert (a["jobs"], a["wall_s"], a["mean_s"], a["max_s"], a["cpu_s"], a["max_rss_mb"]) == (
        2,
        4.0,
        2.0,
        2.5,
        3.0,
        300.0,
    )
    assert np.isnan(t.set_index("rule").loc["b", "cpu_s"])
    assert dg.runtime_summary(bench.iloc[:0]).empty


@pytest.mark.parametrize("instrument", io.INSTRUMENTS)
def test_read_frames_returns_the_first_frames(tmp_path: Path, instrument: str) -> None:
    ny, nx = io.DETECTOR_SHAPE[instrument]
    frames = np.random.default_rng(3).integers(0, 65535, (6, ny, nx), dtype=np.uint16)
    path = tmp_path / f"{instrument}_signal_0.parquet"
    io.write_signal(path, frames)
    got = dg.read_frames(path, instrument, 2)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, frames[:2])
    with pytest.raises(io.DataError, match="columns"):
        dg.read_frames(path, "AIRS-CH0" if instrument == "FGS1" else "FGS1")


N_WHITE = 1 << 14
# rms of M bin means: its relative standard error is ~ 1 / sqrt(2 (M - 1)); 4 of those
WHITE_SIGMAS = 4.0


def test_bin_points_known_answer() -> None:
    t = np.arange(10.0)
    y = np.array([1.0, 2, 3, 4, 5, 6, 7, np.nan, 9, 10])
    tb, yb, eb = dg.bin_points(t, y, 3)  # groups 0-2, 3-5, 6-8; point 9 dropped
    np.testing.assert_array_equal(tb, [1.0, 4.0, 7.0])
    np.testing.assert_allclose(yb, [2.0, 5.0, 8.0])
    # std(ddof=1) / sqrt(n): [1,2,3] -> 1/sqrt(3); [7, 9] -> sqrt(2)/sqrt(2) = 1
    np.testing.assert_allclose(eb, [1 / np.sqrt(3), 1 / np.sqrt(3), 1.0])
    with pytest.raises(ValueError, match="bin size"):
        dg.bin_points(t, y, 0)


def test_detrended_light_curve_binned_points_equal_the_known_transit() -> None:
    """flux = transit * drift + jitter: detrending leaves the transit, and binning a box
    transit with noise-free data returns its two levels exactly."""
    t = np.linspace(0.0, 7.5, 240, endpoint=False)
    transit = np.where((t >= 3.0) & (t < 4.5), 0.98, 1.0)
    drift = 1.0 + 0.01 * t - 2e-3 * t**2
    jitter = 3e-4 * np.sin(2 * np.pi * t / 0.4)  # the terms that made the old figure wiggle
    model = transit * drift + jitter
    noise = np.random.default_rng(0).normal(0, 1e-4, t.size)
    flux = model + noise
    det = dg.detrend(flux, model, drift, transit)
    np.testing.assert_allclose(det, transit + noise / drift, rtol=0, atol=1e-15)
    tb, yb, _ = dg.bin_points(t, dg.detrend(model, model, drift, transit), 8)
    want = np.where((tb >= 3.0) & (tb < 4.5), 0.98, 1.0)  # 8 bins of 15.6 min fit the box edges
    np.testing.assert_allclose(yb, want, rtol=0, atol=1e-15)


def test_rms_of_white_noise_bins_down_as_one_over_sqrt_n() -> None:
    r = np.random.default_rng(5).normal(0, 1e-3, N_WHITE)
    n, rms, white = dg.rms_vs_bin_size(r)
    np.testing.assert_array_equal(n, 2 ** np.arange(12))  # up to N_WHITE // MIN_BINS = 2048
    np.testing.assert_allclose(white, np.std(r, ddof=1) / np.sqrt(n))
    m = N_WHITE // n
    tol = WHITE_SIGMAS / np.sqrt(2 * (m - 1))
    assert np.all(np.abs(rms / white - 1) < tol), (rms / white, tol)


def test_rms_of_red_noise_stays_above_the_white_line() -> None:
    rng = np.random.default_rng(6)
    r = rng.normal(0, 1e-3, N_WHITE) + np.cumsum(rng.normal(0, 2e-5, N_WHITE))  # random walk
    n, rms, white = dg.rms_vs_bin_size(r - r.mean())
    assert rms[0] / white[0] == pytest.approx(1.0)
    assert rms[-1] / white[-1] > 3.0
    with pytest.raises(ValueError, match="finite residuals"):
        dg.rms_vs_bin_size(np.r_[np.ones(5), np.full(100, np.nan)])


def test_spectral_residuals_vanish_for_the_model_and_find_an_injected_bump() -> None:
    t = np.linspace(0, 7.5, 90)
    k = 0.12
    transit = 1 - k**2 * np.clip(1 - np.abs(t - 3.75) / 1.2, 0, 1)  # a V-shaped white transit
    drift = 1 + 2e-3 * (t - 3.75)
    depth = np.linspace(0.013, 0.016, 20)
    tau = np.linspace(-1, 1, t.size)
    chromatic = 1 + np.outer(tau**2 - tau**3, np.linspace(-3e-3, 3e-3, 20))  # per-bin cubic
    flux = (1 - depth[None, :] * (1 - transit[:, None]) / k**2) * drift[:, None] * chromatic
    bins = 1 - depth[None, :] * (1 - transit[:, None]) / k**2
    np.testing.assert_allclose(dg.spectral_residuals(flux, drift, bins, 3), 0, atol=1e-12)
    bumped = flux.copy()
    bumped[40:42, 7] *= 1 + 5e-3  # 5000 ppm in one bin for 2 time bins
    r = dg.spectral_residuals(bumped, drift, bins, 3)  # the cubic the chromatic drift is
    # the cubic of bin 7 absorbs a little of the bump (2 of 90 points): within 10 %
    np.testing.assert_allclose(r[40:42, 7], 5e-3, rtol=0.1)
    np.testing.assert_allclose(np.delete(r, 7, axis=1), 0, atol=1e-12)
    assert np.abs(np.delete(r[:, 7], [40, 41])).max() < 5e-4


def test_bin_transits_follow_the_fitted_geometry_and_depths() -> None:
    t = np.linspace(0.0, 7.5, 181)
    depth = np.r_[0.01, np.linspace(0.01, 0.02, io.N_BINS - 1)]
    cube = xr.Dataset(
        {"time_airs": (("visit", "time"), t[None, :])},
        coords={"time": t, "wavelength": np.r_[0.7, np.linspace(1.95, 3.9, io.N_BINS - 1)]},
        attrs={"star_Ts": 5700.0, "star_P": 3.0},
    )
    fit = xr.Dataset(
        {"t0": (("visit",), [3.75]), "depth": (("wavelength",), depth)},
        attrs={"a_rs": 9.0, "inc_deg": 90.0},
    )
    tr = dg.bin_transits(fit, cube, 0)
    assert tr.shape == (t.size, io.N_BINS - 1)
    np.testing.assert_allclose(tr[0], 1.0)  # before ingress
    assert np.all(np.argmin(tr, axis=0) == 90)  # mid-transit at t0 = 3.75 h
    # at the centre the loss of light is about the depth (limb darkening deepens it a little)
    ratio = (1 - tr[90]) / depth[1:]
    assert np.all((ratio > 1.0) & (ratio < 1.35)), ratio
    assert np.all(np.diff(1 - tr[90]) > 0)  # deeper bins lose more light


def test_spectrum_residuals_are_mu_minus_truth_over_sigma() -> None:
    got = dg.spectrum_residuals(np.array([0.02, 0.01]), np.array([1e-3, 5e-4]), np.full(2, 0.015))
    np.testing.assert_allclose(got, [5.0, -10.0])


# --------------------------------------------------------------------------- figures
def synthetic_products(n_visits: int = 1, with_fit: bool = True) -> tuple[xr.Dataset, xr.Dataset]:
    t = np.linspace(0.05, 7.45, 60)
    wl = np.linspace(1.9, 3.9, io.N_BINS)
    wl[0] = 0.7
    box = np.where((t > 2.5) & (t < 5.0), 1 - 0.02, 1.0)
    flux = np.broadcast_to(box[None, :, None], (n_visits, t.size, io.N_BINS)).copy()
    cube = xr.Dataset(
        {
            "flux": (("visit", "time", "wavelength"), flux),
            "ingress": (("visit",), np.full(n_visits, 2.5)),
            "egress": (("visit",), np.full(n_visits, 5.0)),
        },
        coords={"visit": np.arange(n_visits), "time": t, "wavelength": wl},
        attrs={"planet_id": 7},
    )
    fit = xr.Dataset(
        attrs={
            "planet_id": 7,
            "flag": "ok" if with_fit else "failed",
            "k_fgs": 0.141,
            "k_airs": 0.142,
        }
    )
    if with_fit:
        drift = np.broadcast_to(1 + 1e-3 * t, (n_visits, t.size))
        for name in ("fgs", "airs"):
            fit[f"white_{name}"] = (("visit", "time"), box * drift)
            fit[f"white_{name}_drift"] = (("visit", "time"), drift)
            fit[f"white_{name}_model"] = (("visit", "time"), box * drift)
    return fit, cube


@pytest.mark.parametrize(("n_visits", "with_fit"), [(1, True), (2, True), (1, False)])
def test_light_curve_figure(tmp_path: Path, n_visits: int, with_fit: bool) -> None:
    fit, cube = synthetic_products(n_visits, with_fit)
    fig = dg.figure_light_curves(fit, cube)
    assert len(fig.axes) == 4 * n_visits
    path = tmp_path / "lc.png"
    dg.save_figure(fig, path)
    w, h = png_size(path)
    assert (w, h) == (round(fig.get_figwidth() * dg.DPI), round(fig.get_figheight() * dg.DPI))
    if with_fit:  # a perfect model: the residual panel says 0 ppm
        assert any(
            t.get_text() == "rms 0 ppm" for t in fig.axes[n_visits].texts
        )  # row 2: residuals


def jittery_fit(n_visits: int = 1) -> tuple[xr.Dataset, xr.Dataset]:
    """Products whose model carries jitter terms, with the transit stored beside it."""
    fit, cube = synthetic_products(n_visits, True)
    t = cube["time"].values
    jitter = np.broadcast_to(4e-3 * np.sin(2 * np.pi * t / 0.5), (n_visits, t.size))
    for name in ("fgs", "airs"):
        drift = fit[f"white_{name}_drift"].values
        tr = fit[f"white_{name}"].values / drift  # the box
        fit[f"white_{name}_transit"] = (("visit", "time"), tr)
        fit[f"white_{name}_model"] = (("visit", "time"), tr * drift + jitter)
        fit[f"white_{name}"] = (("visit", "time"), tr * drift + jitter)
    fit.attrs["white_chi2_red"] = 1.07
    return fit, cube


def test_light_curve_figure_draws_the_smooth_transit_and_binned_detrended_points() -> None:
    fit, cube = jittery_fit()
    fig = dg.figure_light_curves(fit, cube)
    assert "chi2_red = 1.07" in fig.get_suptitle()
    ax = fig.axes[0]  # FGS1, visit 0
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    t = cube["time"].values
    order = np.argsort(t)
    # the red line is the transit alone, not the model with its jitter wiggles
    np.testing.assert_array_equal(
        lines["fitted transit"].get_ydata(), fit["white_fgs_transit"].values[0][order]
    )
    # detrended points: the jitter is gone (data == model here), they equal the box
    np.testing.assert_allclose(
        lines["data, drift and jitter removed"].get_ydata(), fit["white_fgs_transit"].values[0]
    )
    nb = round(dg.LC_BIN_H / np.median(np.diff(t)))
    binned = ax.containers[0]  # the errorbar of the binned points
    assert binned.get_label() == f"binned ({nb} pts)"
    want = dg.bin_points(t, fit["white_fgs_transit"].values[0], nb)[1]
    np.testing.assert_allclose(binned.lines[0].get_ydata(), want)
    assert "Rp/Rs = 0.1410" in ax.get_title()


def test_noise_figure_of_white_residuals_has_beta_near_one() -> None:
    fit, cube = synthetic_products(1, True)
    rng = np.random.default_rng(2)
    t = np.linspace(0.05, 7.45, 4096)
    fit = xr.Dataset(
        {
            f"white_{n}{suffix}": (("visit", "time"), v[None, :])
            for n in ("fgs", "airs")
            for suffix, v in (
                ("", 1 + rng.normal(0, 1e-3, t.size)),
                ("_model", np.ones(t.size)),
                ("_drift", np.ones(t.size)),
            )
        },
        attrs={"planet_id": 7},
    )
    fig = dg.figure_noise(fit)
    for ax in fig.axes:
        label = ax.get_legend().get_texts()[0].get_text()
        beta = float(label.split("beta = ")[1])
        assert beta == pytest.approx(1.0, abs=0.15), label  # white noise: beta ~ 1


def test_residual_map_of_a_perfect_fit_is_zero() -> None:
    fit, cube = synthetic_products(2, True)
    t = cube["time"].values
    k = 0.142
    box = np.where((t > 2.5) & (t < 5.0), 1 - k**2, 1.0)
    depth = np.full(io.N_BINS, k**2)
    fit["t0"] = (("visit",), [3.75, 3.75])
    fit["depth"] = (("wavelength",), depth)
    drift = fit["white_airs_drift"].values
    flux = box[None, :, None] * drift[:, :, None] * np.ones((1, 1, io.N_BINS))
    cube["flux"] = (("visit", "time", "wavelength"), flux)
    flux[1, 30, 100:106] *= 1 + 1e-3  # 1000 ppm in 6 bins of visit 1 at one time
    cube["flux"] = (("visit", "time", "wavelength"), flux)
    fig = dg.figure_residual_map(
        fit, cube, transits=lambda f, c, v: np.broadcast_to(box[:, None], (t.size, io.N_BINS - 1))
    )
    meshes = [
        c
        for ax in fig.axes
        if ax.get_xlabel() == "wavelength (um)"  # not the colour bars
        for c in ax.collections
        if isinstance(c, QuadMesh)
    ]
    assert len(meshes) == 2
    m0 = np.asarray(meshes[0].get_array()).reshape(t.size, -1)
    np.testing.assert_allclose(m0, 0, atol=1e-6)  # ppm: rounding of the least squares
    m1 = np.asarray(meshes[1].get_array()).reshape(t.size, -1)
    col = (100 - 1) // dg.MAP_GROUP  # AIRS bin index 99..104 -> column 16 (bins 96..101) and 17
    # two columns of 6 bins hold 3 bumped bins each: ~500 ppm (the bins' cubic drifts absorb
    # a little, 1 of 60 points), the rest of the map stays near 0
    np.testing.assert_allclose(m1[30, col : col + 2], 500.0, rtol=0.1)
    assert np.abs(np.delete(m1, 30, axis=0)).max() < 50.0


def test_calibration_qa_figure_draws_the_recorded_series() -> None:
    _, cube = synthetic_products(1, True)
    t = cube["time"].values
    cube["fgs_centroid_y"] = (("visit", "time"), (15.0 + 0.01 * t)[None, :])
    cube["airs_masked_fraction"] = (("visit", "time"), np.full((1, t.size), 0.002))
    cube["cosmic_rays"] = (("visit",), [17])
    fig = dg.figure_calibration_qa(cube)
    axes = [ax for ax in fig.axes if ax.get_lines()]
    assert len(axes) == 2  # only the series the cube holds
    y = axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(y, 0.01 * (t - np.median(t)), atol=1e-12)  # median removed
    np.testing.assert_allclose(axes[1].get_lines()[0].get_ydata(), 0.2)  # percent
    assert fig.get_suptitle().endswith("cosmic rays flagged per visit: 17")


def test_training_figure_and_history_check(tmp_path: Path) -> None:
    h = pd.DataFrame(
        {
            "epoch": [0, 1, 2, 0, 1, 2],
            "loss": [np.nan, 2.0, 1.0, np.nan, 3.0, 1.5],
            "fit_score": [0.1, 0.3, 0.5, 0.1, 0.2, 0.4],
            "val_score": [0.1, 0.4, 0.35, 0.1, 0.2, 0.3],
            "member": [0, 0, 0, 1, 1, 1],
        }
    )
    fig = dg.figure_training(h)
    stars = [ln for ln in fig.axes[1].get_lines() if ln.get_marker() == "*"]
    assert [(ln.get_xdata()[0], ln.get_ydata()[0]) for ln in stars] == [(1, 0.4), (2, 0.3)]
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["member 0", "member 1"]
    path = tmp_path / "history.csv"
    h.to_csv(path, index=False)
    out = dg.diagnose_training(history=path, out=tmp_path / "training.png")
    assert len(out) == 6
    png_size(tmp_path / "training.png")
    h.drop(columns="loss").to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"history.csv: no column\(s\) \['loss'\]"):
        dg.diagnose_training(history=path, out=tmp_path / "t2.png")


def test_spectrum_figure_reports_rmse_against_truth(tmp_path: Path) -> None:
    wl = np.linspace(1.9, 3.9, io.N_BINS)
    wl[0] = 0.7
    truth = np.full(io.N_BINS, 0.015)
    preds = {
        "physics": (truth + 1e-4, np.full(io.N_BINS, 5e-5)),
        "model": (truth, np.full(io.N_BINS, 2e-5)),
    }
    fig = dg.figure_spectrum(wl, preds, truth=truth, planet=7, split="test")
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == ["physics (RMSE 100 ppm)", "model (RMSE 0 ppm)", "truth"]
    dg.save_figure(fig, tmp_path / "s.png")
    assert png_size(tmp_path / "s.png") == (1320, 880)
    # the residual row: (mu - truth) / sigma = 1e-4 / 5e-5 = 2 for physics, 0 for the model
    res = {
        ln.get_label(): ln.get_ydata() for ln in fig.axes[3].get_lines() if ":" in ln.get_label()
    }
    np.testing.assert_allclose(res["physics: std 0.00"], 2.0, rtol=1e-9)
    np.testing.assert_array_equal(res["model: std 0.00"], 0.0)
    no_truth = dg.figure_spectrum(wl, preds, planet=7)
    assert len(no_truth.axes) == 2
    assert [t.get_text() for t in no_truth.axes[1].get_legend().get_texts()] == ["physics", "model"]


def test_frame_scale_is_robust_to_hot_pixels() -> None:
    img = np.arange(10_000, dtype=float).reshape(100, 100)  # percentiles known exactly
    hot = img.copy()
    hot[0, :5] = 1e9  # five hot pixels (0.05 %) do not move the 99.9th percentile much
    lo, hi, width = dg.frame_scale([img, hot])
    assert lo == pytest.approx(np.percentile(np.r_[img.ravel(), hot.ravel()], 0.5))
    assert hi < 1e4  # not 1e9
    assert width == pytest.approx(2500.0)  # MAD of 0..9999
    assert dg.frame_scale([np.full((3, 3), 5.0)])[2] == 1.0  # flat image: width floored at 1 ADU


def test_frames_figure_raw_and_cds_differ(tmp_path: Path) -> None:
    frames = {}
    for inst in io.INSTRUMENTS:
        ny, nx = io.DETECTOR_SHAPE[inst]
        start = np.full((ny, nx), 440)  # bias level
        signal = np.zeros((ny, nx), dtype=int)
        signal[10:14] = 5000  # the trace / PSF rows
        frames[inst] = np.stack([start, start + signal]).astype(np.uint16)
    fig = dg.figure_frames(frames, planet=7)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [
        "AIRS-CH0 raw end read: median 440 ADU",
        "FGS1 raw end read: median 440 ADU",
        "AIRS-CH0 cross-dispersion profile",
        "AIRS-CH0 CDS (end - start): median 0 ADU",
        "FGS1 CDS (end - start): median 0 ADU",
        "FGS1 cross-dispersion profile",
    ]
    images = {
        ax.get_title().split(":")[0]: ax.get_images()[0] for ax in fig.axes if ax.get_images()
    }
    raw, cds = images["AIRS-CH0 raw end read"], images["AIRS-CH0 CDS (end - start)"]
    assert raw.norm.vmin == cds.norm.vmin and raw.norm.vmax == cds.norm.vmax  # one scale
    # on that scale the raw background (bias, 440 ADU) and the CDS background (0) differ
    assert raw.norm(440.0) - cds.norm(0.0) > 0.3
    prof = next(ax for ax in fig.axes if ax.get_title() == "AIRS-CH0 cross-dispersion profile")
    lines = {ln.get_label(): ln.get_ydata() for ln in prof.get_lines()}
    np.testing.assert_array_equal(lines["CDS"][10:14], 5000.0)
    np.testing.assert_array_equal(lines["CDS"][:10], 0.0)
    np.testing.assert_array_equal(lines["raw end read"][:10], 440.0)
    dg.save_figure(fig, tmp_path / "f.png")
    png_size(tmp_path / "f.png")


def test_score_table_html_formats_and_escapes() -> None:
    table = pd.DataFrame(
        {
            "method": ["<model>"],
            "split": ["test"],
            "score": [0.42624651],
            "rmse_fgs_ppm": [490.2],
            "rmse_airs_ppm": [474.5],
            "coverage_1sigma": [0.616],
            "coverage_2sigma": [0.98],
            "n_planets": [3],
        }
    )
    page = dg.score_table_html(table)
    assert "<td>&lt;model&gt;</td>" in page and "<td>0.4262</td>" in page and "<td>490</td>" in page
    assert page.count("<tr>") == 2


def write_split_files(tmp_path: Path) -> dict[str, Path]:
    """Truth of 400 planets, a calibrated method and an over-confident one (sigma / 3)."""
    rng = np.random.default_rng(5)
    n = 400
    ids = np.arange(n) + 100
    y = 0.015 + 0.005 * rng.standard_normal((n, 1)) + np.zeros((1, io.N_BINS))
    sigma = np.full((n, io.N_BINS), 4e-5)
    mu = np.clip(y + sigma * rng.standard_normal(y.shape), 0, None)
    labels = pd.DataFrame(y, columns=io.WL_COLUMNS)
    labels.insert(0, "planet_id", ids)
    files = {"truth": tmp_path / "train.csv", "wavelengths": tmp_path / "wavelengths.csv"}
    labels.to_csv(files["truth"], index=False)
    wl = np.linspace(1.95, 3.9, io.N_BINS)
    wl[0] = 0.7
    pd.DataFrame([wl], columns=io.WL_COLUMNS).to_csv(files["wavelengths"], index=False)
    for name, s in (("calibrated", sigma), ("overconfident", sigma / 3)):
        df = pd.DataFrame(np.hstack([mu, s]), columns=io.WL_COLUMNS + io.SIGMA_COLUMNS)
        df.insert(0, "planet_id", ids)
        files[name] = tmp_path / f"{name}.csv"
        df.sample(frac=1, random_state=1).to_csv(
            files[name], index=False
        )  # row order must not matter
    return files


def test_diagnose_split_numbers_and_figures(tmp_path: Path) -> None:
    f = write_split_files(tmp_path)
    out = {k: tmp_path / f"{k}.png" for k in ("per_bin", "zscores", "coverage")}
    summary = dg.diagnose_split(
        split="train",
        predictions={m: f[m] for m in ("calibrated", "overconfident")},
        truth=f["truth"],
        train_labels=f["truth"],
        wavelengths=f["wavelengths"],
        out_per_bin=out["per_bin"],
        out_zscores=out["zscores"],
        out_coverage=out["coverage"],
    )
    # 113,200 elements: std(z) and the 1-sigma coverage are within ~0.01 of their true values
    assert summary["calibrated"]["z_std"] == pytest.approx(1.0, abs=0.01)
    assert summary["calibrated"]["coverage_1sigma"] == pytest.approx(0.6827, abs=0.01)
    assert summary["overconfident"]["z_std"] == pytest.approx(3.0, abs=0.03)
    assert summary["overconfident"]["coverage_1sigma"] == pytest.approx(
        0.2611, abs=0.01
    )  # P(|z| < 1/3)
    assert summary["calibrated"]["score"] > summary["overconfident"]["score"]
    for p in out.values():
        png_size(p)


# --------------------------------------------------------------------------- the workflow's figures
@pytest.mark.slow
def test_diagnose_rules_draw_every_figure(small_run: Path) -> None:
    d = small_run / "results" / "diagnostics"
    root = small_run / "results" / "simulated"
    sample = [
        p for s in ("train", "test") for p in io.list_planets(root, s)[:2]
    ]  # diagnostics.sample: 2
    drawn = sorted(int(p.name) for p in d.iterdir() if p.name.isdigit())
    assert drawn == sorted(sample)
    for pid in sample:
        for name in (
            "frames",
            "light_curves",
            "spectrum",
            "noise",
            "residual_map",
            "calibration_qa",
        ):
            w, h = png_size(d / str(pid) / f"{name}.png")
            assert w > 800 and h > 400
    for split in ("train", "test"):
        for name in ("per_bin", "zscores", "coverage"):
            png_size(d / split / f"{name}.png")
    png_size(d / "runtime.png")
    png_size(d / "training.png")
    assert "<table>" in (d / "score_table.html").read_text()


@pytest.mark.slow
def test_diagnostic_scores_agree_with_the_score_rule(small_run: Path) -> None:
    """The per-split figure's numbers and the score table come from the same metric."""
    table = pd.read_csv(small_run / "results" / "scores" / "table.csv")
    log = (small_run / "results" / "logs" / "diagnose_split" / "test.log").read_text()
    for method, score in re.findall(r"(\w+): score ([0-9.]+)", log):
        want = table[(table["method"] == method) & (table["split"] == "test")]["score"].item()
        assert float(score) == pytest.approx(want, abs=5e-5)  # the log prints 4 decimals
    assert len(re.findall(r"score", log)) == 3
