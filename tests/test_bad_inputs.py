"""Bad inputs: every class gives a clear error naming the file or config key and the problem,
and leaves no half-written output behind.

Function-level tests call the functions the rule scripts call, on a tiny simulated data root
with one thing broken, and check the error and that the rule's output (and its ``.part``
temporary) does not exist. The ``slow`` tests run the real workflow on such a root and check
the exit status, the message on stderr and in the rule's log, and the absence of the failing
rule's output and of any ``.part`` file.

Defined behaviour of the two classes that are not plain read errors:

* a flat that is zero, NaN or below ``calibration.flat_minimum`` everywhere is refused
  (:class:`DataError` naming ``flat.parquet`` and the key); single bad flat pixels are masked;
* a detector column dead from top to bottom leaves its AIRS bin without any valid pixel: the
  bin is interpolated from its neighbours along wavelength, flagged in the series'
  ``airs_filled`` and logged, so the cube and the fit stay finite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import xarray as xr
import yaml

from conftest import link_workflow, run_snakemake
from spectramind import io, predict, submission
from spectramind.calibration.pipeline import CalibrationConfig, build_cube
from spectramind.calibration.products import calibrate_planet, series_dataset, write_netcdf
from spectramind.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from spectramind.model.models.spectra_model import SpectraModel
from spectramind.model.pipeline import predict_from_products
from spectramind.physics.common import FitConfig
from spectramind.physics.products import fit_planet
from spectramind.workflow_io import labels_array, truth_for
from tiny import TINY

REPO = Path(__file__).resolve().parents[1]
# AIRS detector column 180 is target bin wl_(2 + 320 - 180) = wl_142, index 140 of the 282
DEAD_COLUMN, DEAD_BIN = 180, 140
# float32 flux: the interpolated bin is (a + b) / 2 evaluated in float32 (one rounding)
FLOAT32_RTOL = 1e-6
# neighbouring AIRS columns of the simulated star differ by well under 10 % in flux, so the
# interpolated bin must land within 10 % of the flux the live column measures
NEIGHBOUR_FLUX_RTOL = 0.1


# --------------------------------------------------------------------------- fixtures, helpers
def planet_of(root: Path) -> int:
    return io.list_planets(root, "test")[0]


def calibrate_rule(root: Path, planet: int, out: Path) -> None:
    """The body of workflow/scripts/calibrate.py (default calibration config)."""
    cfg = CalibrationConfig()
    visits = calibrate_planet(root, "test", planet, cfg)
    write_netcdf(series_dataset(planet, visits, cfg), out)


def assert_nothing_written(out: Path) -> None:
    assert not out.exists(), f"{out} was written"
    if out.parent.exists():
        assert not list(out.parent.glob("*.part")), f"partial files left in {out.parent}"


def assert_error_names(exc: pytest.ExceptionInfo[io.DataError], path: Path, problem: str) -> None:
    assert Path(exc.value.path) == path
    assert str(path) in str(exc.value) and problem in str(exc.value)


def rewrite_parquet(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path)


def edit_map(root: Path, planet: int, instrument: str, **arrays: np.ndarray) -> Path:
    cal = io.calibration_dir(root, "test", planet, instrument, 0)
    maps = replace(io.read_calibration(cal, instrument), **arrays)
    io.write_calibration(cal, maps)
    return cal


# --------------------------------------------------------------------------- function level
def test_missing_signal_file(root: Path, tmp_path: Path) -> None:
    pid = planet_of(root)
    path = io.signal_path(root, "test", pid, "FGS1", 0)
    path.unlink()
    out = tmp_path / "series.nc"
    with pytest.raises(io.DataError) as exc:
        calibrate_rule(root, pid, out)
    assert_error_names(exc, path, "file not found")
    assert_nothing_written(out)


def test_missing_signal_of_a_second_visit_is_not_dropped(root: Path) -> None:
    """A visit with one of its two signals missing used to vanish when the AIRS one was gone."""
    pid = next(
        p for p in io.list_planets(root, "train") if len(io.list_visits(root, "train", p)) == 2
    )
    path = io.signal_path(root, "train", pid, "AIRS-CH0", 1)
    path.unlink()
    with pytest.raises(io.DataError) as exc:
        io.list_visits(root, "train", pid)
    assert_error_names(exc, path, "file not found")


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_signal(root: Path, tmp_path: Path, keep: float) -> None:
    pid = planet_of(root)
    path = io.signal_path(root, "test", pid, "AIRS-CH0", 0)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    out = tmp_path / "series.nc"
    with pytest.raises(io.DataError) as exc:
        calibrate_rule(root, pid, out)
    assert_error_names(exc, path, "not a readable parquet file")
    assert_nothing_written(out)


def test_corrupt_signal_bytes(root: Path, tmp_path: Path) -> None:
    """Bytes flipped inside the data pages: the page checksum / decoder refuses them."""
    pid = planet_of(root)
    path = io.signal_path(root, "test", pid, "FGS1", 0)
    data = bytearray(path.read_bytes())
    data[4 : len(data) // 2] = bytes(len(data) // 2 - 4)  # zero the first half after the magic
    path.write_bytes(bytes(data))
    out = tmp_path / "series.nc"
    with pytest.raises(io.DataError) as exc:
        calibrate_rule(root, pid, out)
    assert_error_names(exc, path, "not a readable parquet file")
    assert_nothing_written(out)


def test_signal_wrong_column_count(root: Path, tmp_path: Path) -> None:
    pid = planet_of(root)
    path = io.signal_path(root, "test", pid, "AIRS-CH0", 0)
    table = pq.read_table(path)
    rewrite_parquet(path, table.remove_column(table.num_columns - 1))
    out = tmp_path / "series.nc"
    with pytest.raises(io.DataError) as exc:
        calibrate_rule(root, pid, out)
    assert_error_names(exc, path, "11391 columns, expected 11392 (32x356 pixels per frame)")
    assert_nothing_written(out)


@pytest.mark.parametrize(("dtype", "arrow"), [(np.int32, "int32"), (np.float64, "double")])
def test_signal_wrong_dtype(root: Path, tmp_path: Path, dtype: type, arrow: str) -> None:
    pid = planet_of(root)
    path = io.signal_path(root, "test", pid, "FGS1", 0)
    table = pq.read_table(path)
    rewrite_parquet(
        path, table.set_column(3, "column_3", pa.array(table.column(3).to_numpy().astype(dtype)))
    )
    out = tmp_path / "series.nc"
    with pytest.raises(io.DataError) as exc:
        calibrate_rule(root, pid, out)
    assert_error_names(exc, path, f"column 'column_3' has type {arrow}, expected uint16")
    assert_nothing_written(out)


@pytest.mark.parametrize(
    ("name", "shape"), [("dark", (356, 32)), ("read", (32, 355)), ("linear_corr", (32, 356))]
)
def test_calibration_map_wrong_shape(
    root: Path, tmp_path: Path, name: str, shape: tuple[int, int]
) -> None:
    pid = planet_of(root)
    path = io.calibration_dir(root, "test", pid, "AIRS-CH0", 0) / f"{name}.parquet"
    arr = np.ones(shape)
    rewrite_parquet(path, pa.table([pa.array(c) for c in arr.T], names=io.column_names(shape[1])))
    want = (6 * 32, 356) if name == "linear_corr" else (32, 356)
    out = tmp_path / "series.nc"
    with pytest.raises(io.DataError) as exc:
        calibrate_rule(root, pid, out)
    assert_error_names(exc, path, f"shape {shape}, expected {want}")
    assert_nothing_written(out)


@pytest.mark.parametrize("instrument", io.INSTRUMENTS)
@pytest.mark.parametrize("value", [0.0, np.nan, 0.1], ids=["zero", "nan", "below-minimum"])
def test_flat_unusable_everywhere_is_refused(
    root: Path, tmp_path: Path, instrument: str, value: float
) -> None:
    pid = planet_of(root)
    ny, nx = io.DETECTOR_SHAPE[instrument]
    cal = edit_map(root, pid, instrument, flat=np.full((ny, nx), value))
    out = tmp_path / "series.nc"
    with pytest.raises(io.DataError) as exc:
        calibrate_rule(root, pid, out)
    assert_error_names(
        exc,
        cal / "flat.parquet",
        f"no usable flat-field value: all {ny * nx} pixels are NaN, "
        "zero or below calibration.flat_minimum=0.2",
    )
    assert_nothing_written(out)


def test_single_bad_flat_pixels_are_masked_not_fatal(root: Path, tmp_path: Path) -> None:
    pid = planet_of(root)
    flat = io.read_calibration(
        io.calibration_dir(root, "test", pid, "AIRS-CH0", 0), "AIRS-CH0"
    ).flat.copy()
    flat[16, 100], flat[15, 200] = np.nan, 0.0  # on the trace
    edit_map(root, pid, "AIRS-CH0", flat=flat)
    out = tmp_path / "series.nc"
    calibrate_rule(root, pid, out)
    with xr.open_dataset(out) as ds:
        assert np.isfinite(ds["airs_flux"].values).all()
        assert not ds["airs_filled"].values.any()


def test_all_dead_detector_is_refused(root: Path, tmp_path: Path) -> None:
    pid = planet_of(root)
    cal = edit_map(root, pid, "FGS1", dead=np.ones((32, 32), bool))
    out = tmp_path / "series.nc"
    with pytest.raises(io.DataError) as exc:
        calibrate_rule(root, pid, out)
    assert_error_names(exc, cal / "dead.parquet", "all 1024 pixels are flagged dead")
    assert_nothing_written(out)


def test_dead_spectral_region_is_refused(root: Path, tmp_path: Path) -> None:
    """Every AIRS spectral column dead: nothing to interpolate from, a clear error."""
    pid = planet_of(root)
    dead = np.zeros((32, 356), bool)
    dead[:, 39:321] = True
    cal = edit_map(root, pid, "AIRS-CH0", dead=dead)
    out = tmp_path / "series.nc"
    with pytest.raises(io.DataError) as exc:
        calibrate_rule(root, pid, out)
    assert_error_names(exc, cal, "no AIRS bin has a finite flux sample")
    assert_nothing_written(out)


@pytest.fixture(scope="module")
def dead_column_series(
    clean_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(clean series, series with AIRS column 180 dead top to bottom) of the test planet."""
    base = tmp_path_factory.mktemp("dead")
    root = base / "data"
    shutil.copytree(clean_root, root)
    pid = io.list_planets(root, "test")[0]
    clean = base / "clean.nc"
    calibrate_rule(root, pid, clean)
    dead = io.read_calibration(
        io.calibration_dir(root, "test", pid, "AIRS-CH0", 0), "AIRS-CH0"
    ).dead.copy()
    dead[:, DEAD_COLUMN] = True
    edit_map(root, pid, "AIRS-CH0", dead=dead)
    broken = base / "dead.nc"
    calibrate_rule(root, pid, broken)
    return clean, broken


def test_dead_column_is_interpolated_and_flagged(dead_column_series: tuple[Path, Path]) -> None:
    with xr.open_dataset(dead_column_series[0]) as c, xr.open_dataset(dead_column_series[1]) as d:
        flux, clean = d["airs_flux"].values[0], c["airs_flux"].values[0]
        assert np.isfinite(flux).all() and np.isfinite(d["airs_var"].values).all()
        assert np.flatnonzero(d["airs_filled"].values[0]).tolist() == [DEAD_BIN]
        assert not c["airs_filled"].values.any()
        np.testing.assert_allclose(
            flux[:, DEAD_BIN],
            0.5 * (flux[:, DEAD_BIN - 1] + flux[:, DEAD_BIN + 1]),
            rtol=FLOAT32_RTOL,
        )
        others = np.arange(flux.shape[1]) != DEAD_BIN
        np.testing.assert_array_equal(
            flux[:, others], clean[:, others]
        )  # the other bins are untouched
        np.testing.assert_allclose(
            flux[:, DEAD_BIN].mean(), clean[:, DEAD_BIN].mean(), rtol=NEIGHBOUR_FLUX_RTOL
        )


@pytest.mark.slow
# build_cube's white light takes np.nanmean over time bins that the 250x coarser cadence leaves
# empty: numpy warns, the bins are NaN by design (not this test's concern)
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
def test_dead_column_keeps_the_cube_and_the_fit_finite(
    clean_root: Path, dead_column_series: tuple[Path, Path]
) -> None:
    from spectramind.calibration.products import series_from_dataset

    pid = io.list_planets(clean_root, "test")[0]
    stars = clean_root / "test_star_info.csv"
    star = io.star_row(io.read_star_info(stars), pid, stars)
    with xr.open_dataset(dead_column_series[1]) as ds:
        visits = series_from_dataset(ds.load())
    cube = build_cube(
        pid, visits, star, io.read_wavelengths(clean_root / "wavelengths.csv"), CalibrationConfig()
    )
    flux = cube["flux"].values
    assert np.isfinite(flux).any(axis=1).all()  # every wavelength has data
    # the dead bin has data exactly where its live neighbour has (the coarse test cadence
    # leaves most 2-minute bins empty for every wavelength)
    np.testing.assert_array_equal(
        np.isfinite(flux[:, :, 1 + DEAD_BIN]), np.isfinite(flux[:, :, DEAD_BIN])
    )
    fit = fit_planet(cube, star, FitConfig())
    assert fit.flag != "failed"
    assert np.isfinite(fit.depth).all() and np.isfinite(fit.sigma).all() and (fit.sigma > 0).all()


def test_planet_without_star_row(root: Path) -> None:
    pid = planet_of(root)
    stars = root / "test_star_info.csv"
    df = pd.read_csv(stars)
    df[df["planet_id"] != pid].to_csv(stars, index=False)
    with pytest.raises(
        io.DataError
    ) as exc:  # what workflow/scripts/phase.py and fit_transit.py call
        io.star_row(io.read_star_info(stars), pid, stars)
    assert_error_names(exc, stars, f"no star row for planet {pid}")


@pytest.mark.parametrize("name", ["abc", "123x", ".ipynb_checkpoints"])
def test_planet_folder_not_an_id(root: Path, name: str) -> None:
    (root / "test" / name).mkdir()
    with pytest.raises(io.DataError) as exc:
        io.list_planets(root, "test")
    assert_error_names(exc, root / "test" / name, "planet folder name is not a numeric planet id")


@pytest.mark.parametrize("edit", ["missing", "extra"])
def test_labels_wrong_columns(root: Path, edit: str) -> None:
    path = root / "train.csv"
    df = pd.read_csv(path)
    df = (
        df.drop(columns="wl_77")
        if edit == "missing"
        else pd.concat([df, pd.DataFrame({"sigma_1": [1e-3] * len(df)})], axis=1)
    )
    df.to_csv(path, index=False)
    problem = (
        r"missing ['wl_77'], extra []" if edit == "missing" else r"missing [], extra ['sigma_1']"
    )
    for call in (
        lambda: labels_array(root, "train"),  # predict_constant; root as the simulated input
        lambda: truth_for(path, "train", io.list_planets(root, "train")),
    ):  # recalibrate, score
        with pytest.raises(io.DataError) as exc:
            call()
        assert_error_names(exc, path, f"wrong columns: {problem}")


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("extraction_rows", [24, 8], "calibration.extraction_rows: [24, 8] is not a row range"),
        (
            "background_rows",
            [[0, 4], [30, 28]],
            "calibration.background_rows: [30, 28] is not a row range",
        ),
        (
            "fgs_annulus",
            [3.0, 14.0],
            "calibration.fgs_annulus: [3.0, 14.0] must satisfy fgs_aperture_radius (5.0)",
        ),
        ("time_bin_s", 3600.0, "calibration.time_bin_s: 3600.0 s gives 8 time bins"),
        ("extraction", "fancy", "calibration.extraction must be 'optimal' or 'box', got 'fancy'"),
        ("flat_min", 0.2, "unknown calibration config keys: ['flat_min']"),
    ],
)
def test_invalid_calibration_config(key: str, value: object, problem: str) -> None:
    """Values the JSON schema cannot refuse (relations between keys) fail before any work."""
    with pytest.raises(ValueError) as exc:
        CalibrationConfig.from_dict({key: value})
    assert problem in str(exc.value)


@pytest.fixture()
def checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    model = SpectraModel(config=TINY)
    pt, js = tmp_path / "ckpt" / "model.pt", tmp_path / "ckpt" / "model_config.json"
    save_checkpoint(model, pt, js)
    return pt, js


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({"d_model": 12}, "shape mismatch"),
        ({"airs_encoder": "gnn"}, "missing"),
        ({"spectral_rank": 5}, "shape mismatch"),
        ({"n_layers": 2}, "invalid model section"),
    ],
)
def test_checkpoint_not_matching_its_config(
    checkpoint: tuple[Path, Path], tmp_path: Path, edit: dict, problem: str
) -> None:
    pt, js = checkpoint
    doc = json.loads(js.read_text())
    doc["model"].update(edit)
    js.write_text(json.dumps(doc))
    out = tmp_path / "predictions" / "test.csv"
    with pytest.raises(CheckpointError) as exc:  # the body of workflow/scripts/predict_model.py
        predict_from_products(
            cubes=[tmp_path / "never-read.nc"],
            fits=[tmp_path / "never-read.nc"],
            model_path=pt,
            config_path=js,
            device="cpu",
            out=out,
        )
    assert problem in str(exc.value)
    assert str(js) in str(exc.value)
    assert_nothing_written(out)


@pytest.mark.parametrize("state", [{"w": 1}, [1, 2], {"w": {"nested": 1}}])
def test_checkpoint_weights_not_a_state_dict(checkpoint: tuple[Path, Path], state: object) -> None:
    """Loadable with weights_only=True, but not names -> tensors."""
    pt, js = checkpoint
    torch.save(state, pt)
    with pytest.raises(CheckpointError, match="expected a state_dict") as exc:
        load_checkpoint(pt, js)
    assert str(pt) in str(exc.value)


@pytest.mark.parametrize(
    ("array", "value", "problem"),
    [
        ("mu", np.nan, "mu has 1 non-finite or negative values (planets [2])"),
        ("mu", -1e-4, "mu has 1 non-finite or negative values (planets [2])"),
        ("sigma", np.inf, "sigma has 1 non-finite or negative values (planets [2])"),
        ("sigma", -1e-6, "sigma has 1 non-finite or negative values (planets [2])"),
    ],
)
def test_bad_predictions_are_refused_before_writing(
    tmp_path: Path, array: str, value: float, problem: str
) -> None:
    ids = np.array([1, 2, 3])
    arrays = {"mu": np.full((3, io.N_BINS), 0.015), "sigma": np.full((3, io.N_BINS), 1e-4)}
    arrays[array][1, 17] = value
    with pytest.raises(predict.PredictionError) as exc:
        predict.submission_frame(ids, arrays["mu"], arrays["sigma"])
    assert problem in str(exc.value)
    # a frame that bypassed submission_frame is validated again by the writer
    good = predict.submission_frame(
        ids, np.full((3, io.N_BINS), 0.015), np.full((3, io.N_BINS), 1e-4)
    )
    out = tmp_path / "predictions" / "test.csv"
    predict.write_submission(good, out)
    before = out.read_bytes()
    bad = good.copy()
    column = ("wl_" if array == "mu" else "sigma_") + "18"
    bad.loc[1, column] = value
    with pytest.raises(predict.PredictionError) as exc:
        predict.write_submission(bad, out)
    assert problem in str(exc.value)
    assert out.read_bytes() == before  # the previous file is untouched, no .part left
    assert not list(out.parent.glob("*.part"))


def test_bad_predictions_never_reach_submission_csv(tmp_path: Path) -> None:
    """rule submit: predictions with NaN (written by another tool) are refused, no submission.csv."""
    good = predict.submission_frame(
        [1, 2], np.full((2, io.N_BINS), 0.015), np.full((2, io.N_BINS), 1e-4)
    )
    pred = tmp_path / "pred.csv"
    bad = good.copy()
    bad.loc[0, "sigma_5"] = np.nan
    bad.loc[1, "wl_9"] = -0.5
    bad.to_csv(pred, index=False)
    out = tmp_path / "results" / "submission.csv"
    with pytest.raises(submission.SubmissionError) as exc:
        submission.write_validated(
            pred, out, REPO / "schemas" / "submission.schema.json", planets=[1, 2]
        )
    assert str(pred) in str(exc.value)
    assert "sigma_5" in str(exc.value) or "wl_9" in str(exc.value)
    assert_nothing_written(out)


# --------------------------------------------------------------------------- interrupted writers
class _Interrupted(KeyboardInterrupt):
    pass


def test_interrupted_netcdf_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_write(self: xr.Dataset, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"\x89HDF\r\n half")
        raise _Interrupted

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half_write)
    out = tmp_path / "cubes" / "1.nc"
    with pytest.raises(_Interrupted):
        write_netcdf(xr.Dataset({"a": ("x", [1.0])}), out)
    assert_nothing_written(out)


def test_interrupted_csv_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_write(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        Path(path).write_text("planet_id,wl_1\n1,")
        raise _Interrupted

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_write)
    out = tmp_path / "predictions" / "test.csv"
    with pytest.raises(_Interrupted):
        predict.write_submission(
            predict.submission_frame([1], np.ones((1, io.N_BINS)), np.ones((1, io.N_BINS))), out
        )
    assert_nothing_written(out)


def test_interrupted_parquet_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_write(table: pa.Table, where: Path, **kwargs: object) -> None:
        Path(where).write_bytes(b"PAR1 half")
        raise _Interrupted

    monkeypatch.setattr(pq, "write_table", half_write)
    out = tmp_path / "FGS1_signal_0.parquet"
    with pytest.raises(_Interrupted):
        io.write_signal(out, np.zeros((2, 32, 32), np.uint16))
    assert_nothing_written(out)


# --------------------------------------------------------------------------- workflow level
def run_workflow(
    wd: Path, root: Path, *targets: str, config: dict | None = None
) -> subprocess.CompletedProcess:
    link_workflow(wd)
    cfg = merge({"data": {"root": str(root)}}, config or {})
    (wd / "test_config.yaml").write_text(yaml.safe_dump(cfg))
    return run_snakemake(
        wd, *targets, "--cores", "2", configfile=wd / "test_config.yaml", check=False, timeout=900
    )


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def assert_failed_cleanly(
    res: subprocess.CompletedProcess,
    wd: Path,
    *,
    names: list[str],
    outputs: list[str],
    log: str | None = None,
) -> None:
    """Non-zero exit; every string in ``names`` on stderr (and in the rule log, if given); the
    failing rule's outputs absent and no ``.part`` file anywhere under results/."""
    assert res.returncode != 0, res.stdout[-2000:]
    for text in names:
        assert text in res.stderr, f"{text!r} not in stderr:\n{res.stderr[-4000:]}"
    if log is not None:
        text = (wd / log).read_text()
        for name in names:
            assert name in text, f"{name!r} not in {log}:\n{text[-3000:]}"
    for out in outputs:
        assert not (wd / out).exists(), f"{out} left behind"
    assert not list(wd.glob("results/**/*.part"))


@pytest.mark.slow
@pytest.mark.parametrize("instrument", io.INSTRUMENTS)
def test_workflow_missing_signal(root: Path, tmp_path: Path, instrument: str) -> None:
    """Found when the workflow lists the planets (before any job runs): nothing is written."""
    pid = planet_of(root)
    path = io.signal_path(root, "test", pid, instrument, 0)
    path.unlink()
    wd = tmp_path / "wd"
    wd.mkdir()
    res = run_workflow(wd, root, f"results/cubes/{pid}.nc")
    assert_failed_cleanly(
        res, wd, names=["DataError", f"{path}: file not found"], outputs=["results"]
    )


@pytest.mark.slow
def test_workflow_truncated_parquet(root: Path, tmp_path: Path) -> None:
    pid = planet_of(root)
    path = io.signal_path(root, "test", pid, "AIRS-CH0", 0)
    path.write_bytes(path.read_bytes()[:5000])
    wd = tmp_path / "wd"
    wd.mkdir()
    res = run_workflow(wd, root, f"results/series/{pid}.nc")
    assert_failed_cleanly(
        res,
        wd,
        names=[f"{path}: not a readable parquet file"],
        outputs=[f"results/series/{pid}.nc"],
        log=f"results/logs/calibrate/{pid}.log",
    )
    assert "Error in rule calibrate" in res.stderr


@pytest.mark.slow
def test_workflow_flat_zero_everywhere(root: Path, tmp_path: Path) -> None:
    pid = planet_of(root)
    cal = edit_map(root, pid, "AIRS-CH0", flat=np.zeros((32, 356)))
    wd = tmp_path / "wd"
    wd.mkdir()
    res = run_workflow(wd, root, f"results/series/{pid}.nc")
    assert_failed_cleanly(
        res,
        wd,
        names=[f"{cal / 'flat.parquet'}: no usable flat-field value"],
        outputs=[f"results/series/{pid}.nc"],
        log=f"results/logs/calibrate/{pid}.log",
    )


@pytest.mark.slow
def test_workflow_planet_without_star_row(root: Path, tmp_path: Path) -> None:
    pid = planet_of(root)
    stars = root / "test_star_info.csv"
    df = pd.read_csv(stars)
    df[df["planet_id"] != pid].to_csv(stars, index=False)
    wd = tmp_path / "wd"
    wd.mkdir()
    res = run_workflow(wd, root, f"results/cubes/{pid}.nc")
    assert_failed_cleanly(  # found when the workflow parses (spectramind.validate): no job ran
        res,
        wd,
        names=[f"{stars}: no star row for planets [{pid}] (1 of 1)"],
        outputs=["results"],
    )


@pytest.mark.slow
def test_workflow_planet_folder_not_an_id(root: Path, tmp_path: Path) -> None:
    (root / "test" / "planet_7").mkdir()
    wd = tmp_path / "wd"
    wd.mkdir()
    res = run_workflow(wd, root)
    assert_failed_cleanly(
        res,
        wd,
        names=[f"{root / 'test' / 'planet_7'}: planet folder name is not a numeric planet id"],
        outputs=["results"],
    )


@pytest.mark.slow
def test_workflow_target_of_an_unknown_planet(root: Path, tmp_path: Path) -> None:
    """A target naming a planet the data root does not hold: a clear error, nothing run."""
    wd = tmp_path / "wd"
    wd.mkdir()
    res = run_workflow(wd, root, "results/cubes/123.nc")
    assert_failed_cleanly(
        res,
        wd,
        names=[f"planet 123 is not in {root} for splits ['train', 'test']"],
        outputs=["results"],
    )


@pytest.mark.slow
def test_workflow_labels_missing_column(root: Path, tmp_path: Path) -> None:
    path = root / "train.csv"
    pd.read_csv(path).drop(columns="wl_200").to_csv(path, index=False)
    wd = tmp_path / "wd"
    wd.mkdir()
    res = run_workflow(wd, root, "results/predictions/constant/test.csv")
    assert_failed_cleanly(  # found when the workflow parses (spectramind.validate): no job ran
        res,
        wd,
        names=[f"{path}: wrong columns: missing ['wl_200'], extra []"],
        outputs=["results"],
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            {"calibration": {"extraction": "fancy"}},
            ["'fancy' is not one of ['optimal', 'box']", "['calibration']['extraction']"],
        ),
        (
            {"calibration": {"time_bin_s": -5}},
            ["-5 is less than or equal to the minimum of 0", "['calibration']['time_bin_s']"],
        ),
        ({"data": {"splits": ["validation"]}}, ["'validation' is not one of ['train', 'test']"]),
        (
            {"model": {"training": {"max_epoch": 3}}},
            ["Additional properties are not allowed ('max_epoch' was unexpected)"],
        ),
    ],
    ids=["enum", "minimum", "split", "unknown-key"],
)
def test_workflow_invalid_config_value(
    clean_root: Path, tmp_path: Path, config: dict, problem: list[str]
) -> None:
    """Refused when the Snakefile validates the config, before anything runs."""
    wd = tmp_path / "wd"
    wd.mkdir()
    res = run_workflow(wd, clean_root, config=config)
    assert_failed_cleanly(
        res, wd, names=["Error validating config file", *problem], outputs=["results"]
    )
