"""Determinism: two clean runs of the small workflow (CPU) give byte-identical simulated data,
cubes, predictions and submission.csv; every random seed is a config key.

The two runs start from nothing (the workflow simulates its own dataset) in two working
directories and run at the same time, one core each: nothing is shared between them but the
code and the config, and neither may disturb the other (shared caches, temporary files).
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import link_workflow, snakemake_command
from spectramind.calibration.products import write_netcdf
from spectramind.model.pipeline import configs_from_params
from spectramind.sim import plan_dataset

REPO = Path(__file__).resolve().parents[1]
SMALL = {
    "data": {"root": None, "splits": ["train", "test"]},
    "simulation": {
        "out": "results/simulated",
        "n_train": 2,
        "n_test": 1,
        "seed": 1,
        "time_scale": 250,
        "second_visit_fraction": 0.1,
    },
    "model": {"training": {"max_epochs": 2, "prior_steps": 10}},
}
# files that record wall times or memory (model_config.json's training summary, history.csv's
# seconds column) are left out: they are not data
PRODUCTS = (
    "simulated",
    "series",
    "cubes",
    "physics",
    "recalibration",
    "predictions",
    "model/model.pt",
    "submission.csv",
)


def planets() -> list[int]:
    sim = SMALL["simulation"]
    plan = plan_dataset(
        n_train=sim["n_train"],
        n_test=sim["n_test"],
        seed=sim["seed"],
        second_visit_fraction=sim["second_visit_fraction"],
    )
    return sorted(p.planet_id for p in plan)


def start_run(wd: Path) -> subprocess.Popen:
    link_workflow(wd)
    (wd / "small.yaml").write_text(yaml.safe_dump(SMALL))
    targets = [f"results/cubes/{p}.nc" for p in planets()] + ["results/submission.csv"]
    targets += [
        f"results/predictions/{m}/{s}.csv"
        for m in ("constant", "physics", "model")
        for s in ("train", "test")
    ]
    cmd = snakemake_command(wd, *targets, "--cores", "1", configfile=wd / "small.yaml")
    with open(wd / "snakemake.out", "w") as out:  # a file, not a pipe: the two runs never block
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def finish_run(proc: subprocess.Popen, wd: Path) -> dict[str, str]:
    proc.wait(timeout=1800)
    assert proc.returncode == 0, (
        f"run in {wd} failed:\n{(wd / 'snakemake.out').read_text()[-6000:]}"
    )
    files = sorted(
        f
        for p in PRODUCTS
        for f in (
            [wd / "results" / p]
            if (wd / "results" / p).is_file()
            else (wd / "results" / p).rglob("*")
        )
        if f.is_file()
    )
    return {str(f.relative_to(wd)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.mark.slow
def test_two_clean_runs_are_byte_identical(tmp_path: Path) -> None:
    procs = {name: start_run(tmp_path / name) for name in ("a", "b")}
    try:
        a, b = (finish_run(proc, tmp_path / name) for name, proc in procs.items())
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "results/submission.csv" in a
    assert {f"results/cubes/{p}.nc" for p in planets()} <= set(a)
    assert any(k.startswith("results/simulated/test/") for k in a)
    assert set(a) == set(b)
    differ = sorted(k for k in a if a[k] != b[k])
    assert not differ, f"differ between two clean runs: {differ}"


def test_netcdf_writer_is_byte_reproducible(tmp_path: Path) -> None:
    """The same Dataset written twice, a second apart, gives the same bytes: netCDF-C switches
    off HDF5's object modification times and xarray adds no history attribute."""
    ds = xr.Dataset(
        {"flux": (("time", "wavelength"), np.arange(12.0).reshape(3, 4), {"units": "1"})},
        coords={"time": [0.1, 0.2, 0.3]},
        attrs={"planet_id": 7, "stages": "{}"},
    )
    write_netcdf(ds, tmp_path / "a.nc")
    time.sleep(1.1)
    write_netcdf(ds, tmp_path / "b.nc")
    assert (tmp_path / "a.nc").read_bytes() == (tmp_path / "b.nc").read_bytes()


# --------------------------------------------------------------------------- seeds in config
def test_seeds_are_config_keys_with_schema_defaults() -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    for section in ("simulation", "model"):
        assert isinstance(config[section]["seed"], int)
        prop = schema["properties"][section]["properties"]["seed"]
        assert prop["type"] == "integer" and "default" in prop


def test_config_seeds_drive_the_randomness() -> None:
    a = plan_dataset(n_train=3, n_test=2, seed=1)
    assert a == plan_dataset(n_train=3, n_test=2, seed=1)
    assert [p.planet_id for p in a] != [
        p.planet_id for p in plan_dataset(n_train=3, n_test=2, seed=2)
    ]
    _, train, _ = configs_from_params(
        {"seed": 7, "device": "cpu", "training": {"max_epochs": 1}}, {}
    )
    assert train.seed == 7


def _unseeded_random_calls(tree: ast.AST) -> list[str]:
    """Calls that draw from a global or OS-seeded generator instead of a seeded one."""
    bad = []
    legacy = {
        "seed",
        "rand",
        "randn",
        "randint",
        "random",
        "random_sample",
        "normal",
        "uniform",
        "choice",
        "shuffle",
        "permutation",
        "poisson",
        "standard_normal",
        "binomial",
        "exponential",
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "random" for a in node.names):
            bad.append(f"line {node.lineno}: import random (unseeded stdlib generator)")
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        if (
            name.endswith(("default_rng", "SeedSequence", "RandomState"))
            and not node.args
            and not node.keywords
        ):
            bad.append(f"line {node.lineno}: {name}() without a seed")
        module, _, attr = name.rpartition(".")
        if module in ("np.random", "numpy.random") and attr in legacy:
            bad.append(f"line {node.lineno}: {name} (numpy's global generator)")
        if name in ("torch.seed", "torch.random.seed"):
            bad.append(f"line {node.lineno}: {name}() seeds from the OS")
    return bad


def test_no_unseeded_randomness_in_the_package_and_scripts() -> None:
    files = sorted(
        [
            *(REPO / "src" / "spectramind").rglob("*.py"),
            *(REPO / "workflow" / "scripts").glob("*.py"),
        ]
    )
    assert len(files) > 20
    found = {
        str(f.relative_to(REPO)): b
        for f in files
        if (b := _unseeded_random_calls(ast.parse(f.read_text())))
    }
    assert not found, found


def test_unseeded_call_detector_can_fail() -> None:
    code = (
        "import numpy as np\nnp.random.default_rng()\nnp.random.normal(0, 1)\n"
        "np.random.default_rng(3).permutation(4)\n"
    )
    assert len(_unseeded_random_calls(ast.parse(code))) == 2
