"""The Kaggle offline bundle, and its boot script run offline in a fresh venv (CI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spectramind import io, lineage
from spectramind.kaggle import WORKFLOW_ITEMS, build_wheel, bundle_config
from spectramind.submission import validate_submission

REPO = Path(__file__).resolve().parents[1]
BOOT = REPO / "bin" / "kaggle-boot.sh"
SCHEMA = REPO / "schemas" / "submission.schema.json"
BOOT_TIMEOUT_S = 1800
# The boot script runs the same code, config and checkpoint on the same files as the workflow
# did: its predictions must agree to float64 rounding (one ulp of a ~1e-2 depth is ~2e-18).
BOOT_ATOL = 1e-15


def test_bundle_config_keeps_the_run_settings_for_the_test_split() -> None:
    run = {
        "data": {"root": None, "splits": ["train", "test"]},
        "calibration": {"time_bin_s": 360.0},
        "model": {"checkpoint": "x", "threads": 2},
        "submission": {"split": "test", "method": "physics"},
    }
    cfg = bundle_config(run, method="model")
    assert cfg["data"] == {"root": None, "splits": ["test"]}
    assert cfg["calibration"] == {"time_bin_s": 360.0}
    assert cfg["model"] == {"checkpoint": None, "threads": 2}
    assert cfg["submission"] == {"split": "test", "method": "model"}
    assert run["data"]["splits"] == ["train", "test"]  # not mutated


def test_build_wheel_packages_the_sources_without_touching_the_repo(tmp_path: Path) -> None:
    before = {p.name for p in REPO.iterdir()}
    wheel = build_wheel(REPO, tmp_path)
    assert wheel.name.startswith("spectramind-") and wheel.suffix == ".whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {"spectramind/cli.py", "spectramind/kaggle.py", "spectramind/physics/fit.py"} <= names
    assert not any("__pycache__" in n or n.endswith((".nbi", ".nbc")) for n in names)
    assert {p.name for p in REPO.iterdir()} == before


def fake_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy2(BOOT, bundle / "kaggle-boot.sh")
    return bundle


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: p, "is not a challenge-layout folder: no test_star_info.csv"),
    ],
)
def test_boot_script_refuses_a_bad_input_folder(tmp_path: Path, make_input, message: str) -> None:
    bundle = fake_bundle(tmp_path)
    res = subprocess.run(
        ["bash", str(bundle / "kaggle-boot.sh"), str(make_input(tmp_path)), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2
    assert message in res.stderr and res.stderr.startswith("kaggle-boot: error:")


def test_boot_script_refuses_an_incomplete_bundle(tmp_path: Path) -> None:
    bundle = fake_bundle(tmp_path)
    data = tmp_path / "data"
    (data / "test").mkdir(parents=True)
    for f in ("test_star_info.csv", "adc_info.csv", "axis_info.parquet", "wavelengths.csv"):
        (data / f).write_text("")
    res = subprocess.run(
        ["bash", str(bundle / "kaggle-boot.sh"), str(data), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2 and "expected one spectramind-*.whl" in res.stderr


# --------------------------------------------------------------------------- the run's bundle
@pytest.mark.slow
def test_bundle_contents(small_run: Path) -> None:
    b = small_run / "results" / "kaggle"
    meta = json.loads((b / "bundle.json").read_text())
    assert meta["method"] == "model" and meta["split"] == "test" and meta["checkpoint"] is True
    assert (b / meta["wheel"]).is_file() and os.access(b / "kaggle-boot.sh", os.X_OK)
    assert (b / "kaggle-boot.sh").read_bytes() == BOOT.read_bytes()
    for f in ("model.pt", "model_config.json"):
        assert (b / "checkpoint" / f).read_bytes() == (
            small_run / "results" / "model" / f
        ).read_bytes()
    for item in WORKFLOW_ITEMS:
        assert (b / "workflow" / item).exists()
    cfg = yaml.safe_load((b / "config.yaml").read_text())
    small = yaml.safe_load((REPO / "tests" / "data" / "config_small.yaml").read_text())
    assert (
        cfg["calibration"]["time_bin_s"] == small["calibration"]["time_bin_s"]
    )  # the run's settings
    assert cfg["data"]["splits"] == ["test"] and cfg["model"]["checkpoint"] is None
    files = {f["path"]: f["sha256"] for f in meta["files"]}
    on_disk = {str(p.relative_to(b)) for p in b.rglob("*") if p.is_file()} - {
        "bundle.json",
        ".snakemake_timestamp",
    }
    assert set(files) == on_disk
    for path, sha in files.items():
        assert lineage.sha256_file(b / path) == sha, path


def network_isolation() -> list[str]:
    """``unshare -n`` (a new network namespace: no interface but loopback) where it works."""
    unshare = shutil.which("unshare")
    if (
        unshare
        and subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode
        == 0
    ):
        return [unshare, "-n"]
    return []


def kaggle_like_venv(path: Path) -> Path:
    """A fresh venv that sees this environment's installed packages (the 'Kaggle image':
    numpy, torch, snakemake, ...) through a .pth line, but not the project itself (its
    editable install is a .pth file there, which is not processed from a .pth-added path)."""
    base = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    subprocess.run(
        [str(base), "-m", "venv", str(path)], check=True, capture_output=True, timeout=300
    )
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "kaggle_image.pth").write_text("\n".join(paths) + "\n")
    return python


@pytest.mark.slow
def test_boot_script_writes_a_valid_submission_offline(small_run: Path, tmp_path: Path) -> None:
    python = kaggle_like_venv(tmp_path / "venv")
    probe = subprocess.run(
        [str(python), "-c", "import numpy, torch, snakemake; import spectramind"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "No module named 'spectramind'" in probe.stderr  # only the bundle's wheel can provide it
    data = small_run / "results" / "simulated"  # challenge layout (+ the simulated truth)
    out = tmp_path / "kaggle-working"
    offline = network_isolation()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHON": str(python),
        "CORES": "2",
        "PIP_NO_INDEX": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "no_proxy": "",
    }
    cmd = [
        *offline,
        "bash",
        str(small_run / "results" / "kaggle" / "kaggle-boot.sh"),
        str(data),
        str(out),
    ]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=BOOT_TIMEOUT_S, env=env, check=False
    )
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}"
    assert (
        f"from {out}/spectramind-work/site/spectramind/__init__.py" in res.stderr
    )  # the wheel, not the repo
    test_ids = io.read_star_info(data / "test_star_info.csv").index.tolist()
    sub = validate_submission(out / "submission.csv", SCHEMA, planets=test_ids)
    ref = pd.read_csv(small_run / "results" / "predictions" / "model" / "test.csv")
    sub = sub.set_index("planet_id").loc[ref["planet_id"]]
    np.testing.assert_allclose(
        sub.to_numpy(), ref.set_index("planet_id").to_numpy(), rtol=0, atol=BOOT_ATOL
    )
    ran = out / "spectramind-work" / "run" / "results"
    assert (
        not (ran / "simulated").exists() and not (ran / "model").exists()
    )  # no simulation, no training
