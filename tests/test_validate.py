"""Bad input never becomes a confident wrong submission (issue 19): one test per case.

Function-level tests break one thing in a tiny simulated data root and call what the workflow
calls when it parses (:func:`validate.check_data_root`) or what a rule script calls; the
``slow`` test runs ``snakemake -n`` on such roots and checks the exit status and the one
message on stderr, with nothing written under results/.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xarray as xr
import yaml

from conftest import link_workflow, run_snakemake
from spectramind import atomic, io, predict, rulelog, selection, submission, validate
from spectramind.calibration.pipeline import CalibrationConfig
from spectramind.calibration.products import calibrate_planet, write_netcdf
from spectramind.model.checkpoint import save_checkpoint
from spectramind.model.models.spectra_model import SpectraModel
from tiny import TINY

REPO = Path(__file__).resolve().parents[1]


def check(root: Path, splits: tuple[str, ...] = ("train", "test"), checkpoint: bool = False):
    return validate.check_data_root(root, list(splits), checkpoint_given=checkpoint)


def refused(root: Path, path: Path, problem: str, **kw: object) -> io.DataError:
    with pytest.raises(io.DataError) as exc:
        check(root, **kw)  # type: ignore[arg-type]
    assert exc.value.path == path
    assert problem in str(exc.value), str(exc.value)
    return exc.value


def edit_star(root: Path, split: str, column: str, value: float) -> tuple[Path, int, int]:
    """Set ``column`` of the first row of ``{split}_star_info.csv``: (path, CSV line, planet)."""
    path = root / f"{split}_star_info.csv"
    df = pd.read_csv(path)
    df.loc[0, column] = value
    df.to_csv(path, index=False)
    return path, 2, int(df.loc[0, "planet_id"])


def test_clean_root_passes_with_its_sheet(root: Path) -> None:
    sheet, warnings = check(root)
    assert warnings == []
    assert sorted(sheet) == sorted(io.list_planets(root, "train") + io.list_planets(root, "test"))
    assert {s for s, _ in sheet.values()} == {"train", "test"}


# --------------------------------------------------------------------------- star rows
@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("Ts", 0.0, "0 (must be > 0)"),
        ("Rs", 0.0, "0 (must be > 0)"),
        ("Rs", -1.2, "-1.2 (must be > 0)"),
        ("Ms", 0.0, "0 (must be > 0)"),
        ("P", 0.0, "0 (must be > 0)"),
        ("sma", 0.0, "0 (must be > 1)"),
        ("sma", 0.8, "0.8 (must be > 1)"),
        ("e", 1.2, "1.2 (must be < 1)"),
        ("e", -0.1, "-0.1 (must be >= 0)"),
        ("i", 0.0, "0 (must be > 0)"),
        ("i", 180.0, "180 (must be < 180)"),
        ("Mp", -1.0, "-1 (must be >= 0)"),
    ],
)
def test_star_row_out_of_range_names_file_line_and_column(
    root: Path, column: str, value: float, rule: str
) -> None:
    path, line, pid = edit_star(root, "test", column, value)
    refused(root, path, f"line {line} (planet {pid}), column {column}: {rule}")


def test_inclination_above_90_is_folded_to_the_same_orbit(root: Path) -> None:
    path = root / "test_star_info.csv"
    before = io.read_star_info(path)
    pid = int(before.index[0])
    edit_star(root, "test", "i", 180.0 - float(before.loc[pid, "i"]))
    after = io.read_star_info(path)
    assert after.loc[pid, "i"] == pytest.approx(before.loc[pid, "i"], abs=1e-12)
    assert validate.fold_inclination(np.array([92.43, 90.0, 87.57])).tolist() == pytest.approx(
        [87.57, 90.0, 87.57]
    )


# --------------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ("negate", "is not a depth (Rp/Rs)^2 in [0, 1)"),
        ("five", "column wl_1: 5 is not a depth (Rp/Rs)^2 in [0, 1)"),
        ("nan", "column wl_1: nan is non-finite"),
    ],
)
def test_labels_out_of_range(root: Path, edit: str, problem: str) -> None:
    path = root / "train.csv"
    df = pd.read_csv(path)
    if edit == "negate":
        df.loc[0, io.WL_COLUMNS] = -df.loc[0, io.WL_COLUMNS]
    else:
        df.loc[0, io.WL_COLUMNS] = 5.0 if edit == "five" else np.nan
    df.to_csv(path, index=False)
    err = refused(root, path, problem)
    assert f"line 2 (planet {int(df.loc[0, 'planet_id'])}), column wl_1" in str(err)
    if edit != "nan":
        assert str(err).endswith(
            "is not a depth (Rp/Rs)^2 in [0, 1) (and 282 more columns of this row)"
        )


def test_labels_of_planets_not_on_disk_are_reported(root: Path) -> None:
    path = root / "train.csv"
    df = pd.read_csv(path)
    extra = df.iloc[:1].assign(planet_id=424242)
    pd.concat([df, extra]).to_csv(path, index=False)
    _, warnings = check(root)
    assert warnings == [
        f"{path}: 1 rows for planets not in {root / 'train'} ([424242]): the constant baseline "
        "and the score's reference use every row, the fits only the planets on disk"
    ]


def test_train_planet_without_labels_is_refused(root: Path) -> None:
    path = root / "train.csv"
    df = pd.read_csv(path)
    df.iloc[1:].to_csv(path, index=False)
    refused(root, path, f"no labels for train planets [{int(df.loc[0, 'planet_id'])}] (1 of 2)")


# --------------------------------------------------------------------------- axis_info, adc_info
def edit_axis(root: Path, column: str, fn) -> Path:  # type: ignore[no-untyped-def]
    path = root / "axis_info.parquet"
    table = pq.read_table(path)
    a = table.column(column).to_numpy(zero_copy_only=False).astype(float)
    j = table.column_names.index(column)
    pq.write_table(table.set_column(j, column, pa.array(fn(a))), path)
    return path


def _reverse_finite(a: np.ndarray) -> np.ndarray:
    n = int(np.isfinite(a).sum())
    return np.r_[a[:n][::-1], a[n:]]


@pytest.mark.parametrize(
    ("column", "fn", "problem"),
    [
        (
            "AIRS-CH0-axis0-h",
            _reverse_finite,
            "column AIRS-CH0-axis0-h: times must increase strictly, row 1",
        ),
        (
            "FGS1-axis0-h",
            lambda a: a * 3600.0,
            "column FGS1-axis0-h: the times span",
        ),
        (
            "AIRS-CH0-axis0-h",
            lambda a: np.where(np.arange(a.size) == 3, np.nan, a),
            "column AIRS-CH0-axis0-h: NaN at rows [3] inside the data",
        ),
        (
            "AIRS-CH0-axis0-h",
            lambda a: np.where(np.arange(a.size) == 3, np.inf, a),
            "column AIRS-CH0-axis0-h: infinite values at rows [3]",
        ),
        (
            "AIRS-CH0-integration_time",
            lambda a: np.where(np.isfinite(a), -a, a),
            "column AIRS-CH0-integration_time:",
        ),
        (
            "AIRS-CH0-axis2-um",
            lambda a: np.where(np.arange(a.size) == 10, a[0], a),
            "column AIRS-CH0-axis2-um: wavelengths must be positive and strictly monotonic",
        ),
    ],
    ids=["reversed-time", "seconds", "nan-inside", "inf", "negative-integration", "wl-order"],
)
def test_axis_info_problems(root: Path, column: str, fn, problem: str) -> None:  # type: ignore[no-untyped-def]
    path = edit_axis(root, column, fn)
    err = refused(root, path, problem)
    if column == "FGS1-axis0-h":
        assert "h, more than 48 h: a column in seconds? (axis0-h is in hours)" in str(err)


def test_axis_info_lengths(root: Path) -> None:
    path = root / "axis_info.parquet"
    table = pq.read_table(path)
    col = "AIRS-CH0-integration_time"
    a = table.column(col).to_numpy(zero_copy_only=False).astype(float)
    n = int(np.isfinite(a).sum())
    a[n - 1] = np.nan  # one value shorter than the AIRS time column
    pq.write_table(table.set_column(table.column_names.index(col), col, pa.array(a)), path)
    refused(root, path, "AIRS time and integration-time columns differ in length")


def test_adc_info_with_two_rows(root: Path) -> None:
    path = root / "adc_info.csv"
    df = pd.read_csv(path)
    pd.concat([df, df.assign(**{"FGS1_adc_gain": 2.0})]).to_csv(path, index=False)
    refused(root, path, "2 data rows, expected exactly one")


# --------------------------------------------------------------------------- splits and ids
def test_planet_in_two_splits(root: Path) -> None:
    pid = io.list_planets(root, "test")[0]
    shutil.copytree(root / "test" / str(pid), root / "train" / str(pid))
    refused(root, root, f"planet {pid} is in two splits (train and test)")


def test_empty_split(root: Path) -> None:
    shutil.rmtree(root / "test")
    (root / "test").mkdir()
    refused(root, root, f"split 'test' of data.splits has no planets in {root}")


def test_test_split_alone_needs_a_checkpoint_for_the_model(root: Path) -> None:
    assert validate.model_source_problem(["test"], checkpoint_given=False) == (
        "data.splits ['test'] has no train split and model.checkpoint is not set: the model "
        "can be neither trained nor loaded (add train to data.splits or set model.checkpoint)"
    )
    assert validate.model_source_problem(["test"], checkpoint_given=True) is None
    assert validate.model_source_problem(["train", "test"], checkpoint_given=False) is None
    sheet, _ = check(root, splits=("test",))  # the data are fine: physics needs no model
    assert list(sheet) == io.list_planets(root, "test")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("0042", "planet folder name '0042' has a leading zero (planet ids are written 42)"),
        (
            "1234567890123456789012345",
            "planet id 1234567890123456789012345 (25 digits) is not below 2**53",
        ),
        ("12a", "planet folder name is not a numeric planet id"),
    ],
)
def test_planet_folder_ids(root: Path, name: str, problem: str) -> None:
    src = root / "test" / str(io.list_planets(root, "test")[0])
    shutil.move(src, root / "test" / name)
    refused(root, root / "test" / name, problem)


def test_25_digit_id_in_star_info(root: Path) -> None:
    path = root / "test_star_info.csv"
    text = path.read_text().splitlines()
    head, row = text[0], text[1].split(",")
    row[0] = "1234567890123456789012345"
    path.write_text("\n".join([head, ",".join(row), *text[2:]]) + "\n")
    with pytest.raises(io.DataError, match="non-negative integers below 2\\*\\*53"):
        io.read_star_info(path)


def test_orphaned_calibration_folder(root: Path) -> None:
    pid = io.list_planets(root, "test")[0]
    d = root / "test" / str(pid)
    orphan = d / "AIRS-CH0_calibration_1"
    shutil.copytree(d / "AIRS-CH0_calibration_0", orphan)
    refused(
        root,
        orphan,
        "calibration folder of visit 1 without its signal files (AIRS-CH0_signal_1.parquet, "
        "FGS1_signal_1.parquet)",
    )


# --------------------------------------------------------------------------- frames
@pytest.mark.parametrize(("value", "what"), [(0, "zero"), (65535, "saturated (65535)")])
def test_dead_or_saturated_frames_name_file_and_visit(root: Path, value: int, what: str) -> None:
    pid = io.list_planets(root, "test")[0]
    path = io.signal_path(root, "test", pid, "FGS1", 0)
    frames = io.read_signal(path, "FGS1").copy()
    frames[[2, 5]] = value
    io.write_signal(path, frames)
    with pytest.raises(io.DataError) as exc:
        calibrate_planet(root, "test", pid, CalibrationConfig())
    assert exc.value.path == path
    assert (
        f"visit 0: 2 of {frames.shape[0]} frames are {what} in every pixel (frames [2, 5])"
        in str(exc.value)
    )


def test_frame_problems_pass_real_looking_frames() -> None:
    frames = np.full((4, 3, 3), 500, np.uint16)
    frames[1, 0, 0] = 0  # one zero pixel (a dead one) is not a zero frame
    frames[2, 1, 1] = 65535  # one saturated pixel is not a saturated frame
    assert validate.frame_problems(frames) == []


# --------------------------------------------------------------------------- atomic writes
def _enospc(*args: object, **kwargs: object) -> None:
    tmp = next(a for a in args if isinstance(a, (str, Path)))
    Path(tmp).write_bytes(b"half")
    raise OSError(errno.ENOSPC, "No space left on device")


def _assert_disk_full(exc: pytest.ExceptionInfo[atomic.DiskFullError], out: Path) -> None:
    assert str(exc.value) == f"disk full: {out}"
    assert not out.exists()
    assert not list(out.parent.glob("*.part"))


def test_disk_full_submission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pred = tmp_path / "pred.csv"
    predict.write_submission(
        predict.submission_frame([1], np.full((1, io.N_BINS), 0.01), np.full((1, io.N_BINS), 1e-4)),
        pred,
    )
    monkeypatch.setattr(shutil, "copyfile", lambda src, dst: _enospc(dst))
    out = tmp_path / "results" / "submission.csv"
    with pytest.raises(atomic.DiskFullError) as exc:
        submission.write_validated(pred, out, REPO / "schemas" / "submission.schema.json")
    _assert_disk_full(exc, out)


def test_disk_full_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch, "save", lambda obj, f: _enospc(f))
    pt = tmp_path / "model" / "model.pt"
    with pytest.raises(atomic.DiskFullError) as exc:
        save_checkpoint(SpectraModel(config=TINY), pt, pt.with_name("model_config.json"))
    _assert_disk_full(exc, pt)


def test_disk_full_netcdf_hdf_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """netCDF4 reports a full disk as "NetCDF: HDF error" (no errno): the free space tells."""

    def hdf_error(self: xr.Dataset, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"\x89HDF half")
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", hdf_error)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9, 0))  # type: ignore[attr-defined]
    out = tmp_path / "cubes" / "1.nc"
    with pytest.raises(atomic.DiskFullError) as exc:
        write_netcdf(xr.Dataset({"a": ("x", [1.0])}), out)
    _assert_disk_full(exc, out)
    assert isinstance(exc.value.__cause__, RuntimeError)


def test_other_failures_are_not_called_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("NetCDF: HDF error")

    out = tmp_path / "x.nc"
    with pytest.raises(RuntimeError, match="HDF error"):  # plenty of space: the original error
        atomic.atomic_write(out, fails)
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b.txt"
    atomic.atomic_write_text(out, "one")
    atomic.atomic_write_text(out, "two")
    assert out.read_text() == "two" and sorted(p.name for p in out.parent.iterdir()) == ["b.txt"]


# --------------------------------------------------------------------------- log file
def test_unwritable_log_is_one_line(tmp_path: Path) -> None:
    ro = tmp_path / "no-such-dir" / "x.log"  # cannot be opened (as a read-only results/)
    with pytest.raises(SystemExit) as exc:
        rulelog.log_to(ro)
    assert str(exc.value) == f"spectramind: cannot write the log {ro}: No such file or directory"


def test_failed_log_write_prints_one_line_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = rulelog._LogFile(tmp_path / "x.log")
    handler.stream.close()  # every write now fails, as on a full or read-only file system
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    handler.emit(record)
    handler.emit(record)
    err = capsys.readouterr().err
    assert err.count("spectramind: cannot write the log") == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- submission.method auto
def test_fold_indices_cover_each_planet_once() -> None:
    parts = selection.fold_indices(7, 5, seed=3)
    assert len(parts) == 5 and sorted(np.concatenate(parts).tolist()) == list(range(7))
    assert [len(p) for p in selection.fold_indices(2, 5, seed=0)] == [1, 1]  # leave-one-out
    assert selection.fold_indices(1, 5, seed=0) == []


def test_choose_method_best_score_ties_to_the_simpler_method() -> None:
    c = selection.choose_method({"constant": 0.2, "physics": 0.6, "model": None})
    assert c.method == "physics"
    assert c.reason == (
        "best out-of-fold train score: physics 0.6000, constant 0.2000 "
        "(no out-of-fold score: model)"
    )
    assert selection.choose_method({"constant": 0.5, "physics": 0.5, "model": 0.5}).method == (
        "constant"
    )
    assert selection.choose_method({"constant": None, "physics": None, "model": None}).method == (
        "physics"
    )


def _planets(seed: int, n: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = 0.01 + 0.005 * rng.random((n, io.N_BINS))
    mu = y + 1e-4 * rng.standard_normal(y.shape)  # physics close to the truth
    return y, mu, np.full(y.shape, 1e-4)


def test_two_train_planets_auto_picks_physics_over_an_unscored_model() -> None:
    """The issue's run: 2 train planets, the model has no out-of-fold score (too few planets
    for K folds), physics fits the labels well: auto must submit physics."""
    y, mu, sigma = _planets(0)
    recal = {"sigma": True, "mean": True}
    scores = {
        "constant": selection.oof_constant(y, folds=5, seed=0),
        "physics": selection.oof_physics(mu, sigma, y, recal),
        "model": None,
    }
    assert scores["physics"] is not None and scores["constant"] is not None
    # raw fits (2 planets are too few to recalibrate: identity) 1 sigma off: ~0.47
    assert scores["physics"] > 0.4 and scores["constant"] < scores["physics"]
    assert selection.choose_method(scores).method == "physics"


def test_oof_physics_refits_the_recalibration_without_the_held_out_planets() -> None:
    """The physics evidence is the recalibration's nested out-of-fold score: a planet 20 sigma
    off is not rescued by a sigma scale fitted on itself, so the out-of-fold score is below the
    score of the recalibration scored on its own fitting planets."""
    y, mu, sigma = _planets(1, n=8)
    mu[1] += 0.002  # planet 1 is badly off; the others are fine
    recal = {"sigma": True, "mean": True, "folds": 4, "shrinkage": [1.0]}
    oof = selection.oof_physics(mu, sigma, y, recal)
    r = predict.fit_recalibration(mu, sigma, y, None, recal)
    in_sample = selection._score(y, *r.apply(mu, sigma), io_naive(y))
    assert oof is not None and oof == r.oof_score and oof < in_sample - 0.1
    off = {"sigma": False, "mean": False}
    assert selection.oof_physics(mu, sigma, y, off) == r.raw_score  # raw fits: no labels seen


def io_naive(y: np.ndarray) -> tuple[float, float]:
    from spectramind import metric

    return metric.naive_stats(y)


def test_auto_is_the_default() -> None:
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    method = schema["properties"]["submission"]["properties"]["method"]
    assert method["default"] == "auto" and method["enum"][0] == "auto"
    assert yaml.safe_load((REPO / "config" / "config.yaml").read_text())["submission"] == {
        "split": "test",
        "method": "auto",
    }


# --------------------------------------------------------------------------- workflow (parse time)
def _dry_run(wd: Path, root: Path, config: dict | None = None) -> subprocess.CompletedProcess:
    link_workflow(wd)
    cfg = {"data": {"root": str(root)}, **(config or {})}
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    return run_snakemake(wd, "-n", configfile=wd / "c.yaml", check=False, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    ["star-i-0", "labels-negated", "reversed-time", "two-splits", "leading-zero", "two-adc-rows"],
)
def test_workflow_refuses_before_any_job(root: Path, tmp_path: Path, case: str) -> None:
    pid = io.list_planets(root, "test")[0]
    if case == "star-i-0":
        path, line, p = edit_star(root, "test", "i", 0.0)
        want = f"{path}: line {line} (planet {p}), column i: 0 (must be > 0)"
    elif case == "labels-negated":
        path = root / "train.csv"
        df = pd.read_csv(path)
        df.loc[0, io.WL_COLUMNS] = -df.loc[0, io.WL_COLUMNS]
        df.to_csv(path, index=False)
        want = f"{path}: line 2 (planet {int(df.loc[0, 'planet_id'])}), column wl_1"
    elif case == "reversed-time":
        path = edit_axis(root, "AIRS-CH0-axis0-h", _reverse_finite)
        want = f"{path}: column AIRS-CH0-axis0-h: times must increase strictly"
    elif case == "two-splits":
        shutil.copytree(root / "test" / str(pid), root / "train" / str(pid))
        want = f"{root}: planet {pid} is in two splits (train and test)"
    elif case == "leading-zero":
        shutil.move(root / "test" / str(pid), root / "test" / f"0{pid}")
        want = f"planet folder name '0{pid}' has a leading zero"
    else:
        path = root / "adc_info.csv"
        df = pd.read_csv(path)
        pd.concat([df, df]).to_csv(path, index=False)
        want = f"{path}: 2 data rows, expected exactly one"
    res = _dry_run(tmp_path / "wd", root)
    out = res.stdout + res.stderr  # a dry run logs to stdout
    assert res.returncode == 1, out[-2000:]
    assert want in out, out[-3000:]
    assert not (tmp_path / "wd" / "results").exists()


@pytest.mark.slow
def test_workflow_auto_needs_the_train_split(root: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt" / "model.pt"
    save_checkpoint(SpectraModel(config=TINY), ckpt, ckpt.with_name("model_config.json"))
    res = _dry_run(
        tmp_path / "wd",
        root,
        {"data": {"root": str(root), "splits": ["test"]}, "model": {"checkpoint": str(ckpt)}},
    )
    assert res.returncode == 1
    assert "submission.method auto chooses by out-of-fold train scores" in res.stdout + res.stderr
    doc = json.loads(ckpt.with_name("model_config.json").read_text())
    assert doc["format"]  # the checkpoint itself is fine: the refusal is the config's


def test_event_log_failure_is_one_line_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only results/: every job record fails to reach events.jsonl; the user sees one
    line, not logging's traceback per record (the run's own error follows it)."""
    from spectramind import lineage

    handler = lineage.EventLog(tmp_path / "events.jsonl")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "job", None, None)
    for _ in range(3):
        try:
            raise OSError(errno.EROFS, "Read-only file system")
        except OSError:
            handler.handleError(record)
    err = capsys.readouterr().err
    assert err == (
        f"spectramind: cannot write the event log {tmp_path / 'events.jsonl'}: "
        "[Errno 30] Read-only file system\n"
    )
