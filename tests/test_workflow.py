"""The real workflow on tiny simulated data: run, lint, dry-run, and check the products."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import link_workflow, run_snakemake
from spectramind import io
from spectramind.calibration import phase

REPO = Path(__file__).resolve().parents[1]
# contact times: the cube's time bins are 6 min (360 s); a contact within 1.5 bins of the truth
CONTACT_TOLERANCE_H = 0.15
WAVELENGTH_ATOL = 1e-12  # the coordinate is copied from wavelengths.csv, not recomputed


@pytest.fixture(scope="module")
def workdir(small_run: Path) -> Path:
    """The session's tiny full run (tests/conftest.py), shared with the other workflow tests."""
    return small_run


@pytest.mark.slow
def test_dry_run_lists_every_rule(tmp_path: Path) -> None:
    link_workflow(tmp_path)
    out = run_snakemake(tmp_path, "-n").stdout
    for rule in (
        "simulate_dataset",
        "calibrate",
        "fit_transit",
        "predict_physics",
        "score_table",
    ):
        assert re.search(rf"^{rule}\s+\d+$", out, flags=re.M), rule


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The job stats table of a dry run: {rule: jobs}."""
    table = dry_run_output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


@pytest.mark.slow
def test_a_planet_calibrates_in_one_job_and_each_stage_stays_a_target(tmp_path: Path) -> None:
    link_workflow(tmp_path)
    cube, series = "results/cubes/571763987.nc", "results/series/571763987.nc"
    one = job_counts(run_snakemake(tmp_path, "-n", cube).stdout)
    assert one == {"simulate_dataset": 1, "calibrate": 1}  # raw -> series -> cube: one job
    alone = job_counts(run_snakemake(tmp_path, "-n", series).stdout)
    assert alone == {"simulate_dataset": 1, "calibrate_series": 1}
    two = run_snakemake(
        tmp_path, "-n", cube, "--allowed-rules", "simulate_dataset", "calibrate_series", "phase"
    ).stdout
    assert job_counts(two) == {"simulate_dataset": 1, "calibrate_series": 1, "phase": 1}


@pytest.mark.slow
def test_lint_is_clean(tmp_path: Path) -> None:
    link_workflow(tmp_path)
    res = run_snakemake(tmp_path, "--lint", check=False)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.slow
def test_cubes(workdir: Path) -> None:
    root = workdir / "results" / "simulated"
    wl = io.read_wavelengths(root / "wavelengths.csv")
    truth = pd.read_csv(root / "sim_truth.csv")
    stars = pd.concat([io.read_star_info(root / f"{s}_star_info.csv") for s in ("train", "test")])
    labels = pd.concat(
        [io.read_labels(root / "train.csv"), io.read_labels(root / "test_truth.csv")]
    )
    cubes = sorted((workdir / "results" / "cubes").glob("*.nc"))
    assert len(cubes) == 5
    for path in cubes:
        with xr.open_dataset(path) as cube:
            pid = cube.attrs["planet_id"]
            np.testing.assert_allclose(cube["wavelength"].values, wl, atol=WAVELENGTH_ATOL, rtol=0)
            assert cube["flux"].dims == ("visit", "time", "wavelength")
            stages = json.loads(cube.attrs["stages"])  # one record per visit
            assert len(stages) == cube.sizes["visit"]
            assert all(s["phase"] == "COMPLETE" for s in stages)
            star = stars.loc[pid]
            t14, _ = phase.transit_durations(
                star["P"], star["sma"], star["i"], float(np.sqrt(labels.loc[pid].mean()))
            )
            for v in range(cube.sizes["visit"]):
                t0 = truth.query("planet_id == @pid and visit == @v")["t0_h"].item()
                assert abs(cube["ingress"].values[v] - (t0 - t14 / 2)) < CONTACT_TOLERANCE_H
                assert abs(cube["egress"].values[v] - (t0 + t14 / 2)) < CONTACT_TOLERANCE_H


@pytest.mark.slow
def test_scores_and_predictions(workdir: Path) -> None:
    table = pd.read_csv(workdir / "results" / "scores" / "table.csv")
    assert {"constant", "physics"} <= set(table["method"])
    test = table.query("split == 'test'").set_index("method")
    # on this world the tiny run's physics score clips to 0 (a few train planets: below the
    # recalibration's minimum, sigma is not recalibrated); its depths must still beat the
    # constant by far, on both instruments, and its score never fall below the constant's
    for col in ("rmse_fgs_ppm", "rmse_airs_ppm"):
        assert test.loc["physics", col] < test.loc["constant", col] / 3, col
    assert test.loc["physics", "score"] >= test.loc["constant", "score"]
    sub = pd.read_csv(workdir / "results" / "predictions" / "physics" / "test.csv")
    assert list(sub.columns) == ["planet_id", *io.WL_COLUMNS, *io.SIGMA_COLUMNS]
    assert np.isfinite(sub.iloc[:, 1:].to_numpy()).all() and (sub.iloc[:, 1:].to_numpy() >= 0).all()


@pytest.mark.slow
def test_second_run_is_a_no_op(workdir: Path) -> None:
    out = run_snakemake(workdir, "-n").stdout
    assert "Nothing to be done" in out
