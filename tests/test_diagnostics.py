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
    assert png_size(tmp_path / "s.png") == (1320, 550)
    no_truth = dg.figure_spectrum(wl, preds, planet=7)
    assert [t.get_text() for t in no_truth.axes[1].get_legend().get_texts()] == ["physics", "model"]


def test_frames_figure(tmp_path: Path) -> None:
    frames = {
        i: np.random.default_rng(1).integers(
            1000, 2000, (2, *io.DETECTOR_SHAPE[i]), dtype=np.uint16
        )
        for i in io.INSTRUMENTS
    }
    fig = dg.figure_frames(frames, planet=7)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [
        "AIRS-CH0 raw end read",
        "FGS1 raw end read",
        "AIRS-CH0 CDS (end - start)",
        "FGS1 CDS (end - start)",
    ]
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
        for name in ("frames", "light_curves", "spectrum"):
            w, h = png_size(d / str(pid) / f"{name}.png")
            assert w > 800 and h > 400
    for split in ("train", "test"):
        for name in ("per_bin", "zscores", "coverage"):
            png_size(d / split / f"{name}.png")
    png_size(d / "runtime.png")
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
