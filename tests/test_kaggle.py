"""The Kaggle offline bundle, and its boot script run offline in the Kaggle image's versions (CI)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spectramind import io, lineage
from spectramind.kaggle import (
    BUNDLE_REQUIREMENTS,
    WORKFLOW_ITEMS,
    BundleError,
    build_wheel,
    bundle_config,
    bundle_dependencies,
    bundle_pyproject,
    fallback_constant,
    read_image_packages,
    wheel_requirements,
)
from spectramind.kaggle_run import (
    Dist,
    fence_status,
    install_plan,
    requirement_closure,
    unmet_requirements,
)
from spectramind.submission import validate_submission

REPO = Path(__file__).resolve().parents[1]
BOOT = REPO / "bin" / "kaggle-boot.sh"
SCHEMA = REPO / "schemas" / "submission.schema.json"
BOOT_TIMEOUT_S = 1800
ENV_TIMEOUT_S = 1800
IMAGE_LIST = REPO / "resources" / "kaggle" / "kaggle-cpu-image-packages.txt"
SHARED_IMAGE_LIST = REPO.parent / "shared" / "kaggle" / "kaggle-cpu-image-packages.txt"
# The boot runs the same code, config and checkpoint on the same files as the workflow did,
# but on the image's numpy/scipy/pandas/torch versions (scipy 1.16 vs this env's, the fits
# converge to other last digits): measured max difference 5.3e-10 (a sigma of ~8e-5). The
# bound is 1/1000 of the challenge's sigma_true (1e-5): far below anything the score sees.
BOOT_ATOL = 1e-8


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
    assert {
        "spectramind/cli.py",
        "spectramind/kaggle.py",
        "spectramind/physics/products.py",
    } <= names
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
    # the dependency wheels: snakemake and what it needs, nothing the image lists
    deps = {d["name"]: d for d in meta["dependencies"]}
    image = read_image_packages(IMAGE_LIST)
    assert "snakemake" in deps and "pulp" in deps and not set(deps) & set(image)
    assert "netcdf4" not in deps and "batman-package" not in deps and "torch" not in deps
    wheels = {p.name for p in (b / "wheels").glob("*.whl")}
    assert set(meta["dependency_wheels"]) == wheels
    for name in ("immutables", "wrapt"):  # binary: one wheel per Python of the image
        for py in ("cp311", "cp312"):
            assert any(w.startswith(f"{name}-") and f"-{py}-" in w for w in wheels), (name, py)
    reqs = wheel_requirements(b / meta["wheel"])
    assert "torch>=2.10" in reqs and not any(r.startswith("snakemake[") for r in reqs)
    fb = json.loads((b / "fallback.json").read_text())
    labels = io.read_labels(small_run / "results" / "simulated" / "train.csv").to_numpy(float)
    np.testing.assert_allclose(fb["mu"], labels.mean(), rtol=0, atol=1e-15)
    # what the test-only run cannot learn: the physics prior and recalibration of train
    assert meta["population"] is True and meta["recalibration"] is True
    for shipped, learned in (
        ("population.json", "physics/population.json"),
        ("recalibration.json", "recalibration/physics.json"),
    ):
        assert (b / shipped).read_bytes() == (small_run / "results" / learned).read_bytes()


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


# --------------------------------------------------------------------------- dependencies
def fake_dists() -> dict[str, Dist]:
    return {
        "app": Dist(
            "1.0", ("tool>=2", "lib<3", "extra-only; extra == 'x'", "win; sys_platform == 'win32'")
        ),
        "tool": Dist("2.5", ("lib>=1", "capped<26")),
        "lib": Dist("2.0", ("base",)),
        "base": Dist("7.0"),
        "capped": Dist("25.0"),
        "extra-only": Dist("1.0"),
        "win": Dist("1.0"),
    }


LINUX = {"sys_platform": "linux", "python_version": "3.12", "platform_machine": "x86_64"}


def test_requirement_closure_follows_markers_and_extras() -> None:
    got = requirement_closure(["app"], fake_dists(), [LINUX])
    assert got == {"app": "1.0", "tool": "2.5", "lib": "2.0", "base": "7.0", "capped": "25.0"}
    assert "extra-only" in requirement_closure(["app[x]"], fake_dists(), [LINUX])
    with pytest.raises(KeyError, match="nope .needed by the roots"):
        requirement_closure(["nope"], fake_dists(), [LINUX])


def test_bundle_dependencies_leave_out_what_the_image_has() -> None:
    # the image lists lib (and so has base); capped is capped by tool and the image's version
    # of it is unknown, so it is bundled too (installed only if the image's misses the cap)
    deps = bundle_dependencies(["tool>=2"], {"lib": "2.0"}, fake_dists(), ["3.12"])
    assert deps == {
        "capped": {"version": "25.0", "requires": "<26"},
        "tool": {"version": "2.5", "requires": ">=2"},
    }
    # the image's lib is 1.0, this environment's 2.0: what lib 2.0 needs (base) is not sure to
    # be in the image, and tool (bundled) needs it through lib: bundled too
    deps = bundle_dependencies(["tool>=2"], {"lib": "1.0"}, fake_dists(), ["3.12"])
    assert sorted(deps) == ["base", "capped", "tool"]
    with pytest.raises(BundleError, match="the image's lib==0.5 does not meet"):
        bundle_dependencies(["tool>=2"], {"lib": "0.5"}, fake_dists(), ["3.12"])
    with pytest.raises(BundleError, match="nope.*cannot pin"):
        bundle_dependencies(["nope"], {}, fake_dists(), ["3.12"])


def test_unmet_requirements_name_each_problem() -> None:
    assert unmet_requirements("app", fake_dists(), LINUX) == []
    dists = {**fake_dists(), "capped": Dist("26.1")}
    del dists["base"]
    assert unmet_requirements("app", dists, LINUX) == [
        "lib 2.0 needs base: not installed",
        "tool 2.5 needs capped<26: 26.1 is installed",
    ]


def test_install_plan_keeps_what_the_image_has_in_range() -> None:
    deps = [
        {"name": "capped", "version": "25.0", "requires": "<26"},
        {"name": "tool", "version": "2.5", "requires": ">=2"},
        {"name": "new", "version": "1.0", "requires": ""},
    ]
    image = {"capped": Dist("26.1"), "tool": Dist("3.0")}
    assert install_plan(deps, image) == ["capped==25.0", "new==1.0"]


def test_read_image_packages_and_the_bundle_pyproject(tmp_path: Path) -> None:
    img = read_image_packages(IMAGE_LIST)
    assert img["torch"] == "2.10.0" and img["pyyaml"] == "6.0.3" and "snakemake" not in img
    if SHARED_IMAGE_LIST.is_file():  # the project's copy is the shared list
        assert IMAGE_LIST.read_text() == SHARED_IMAGE_LIST.read_text()
    bad = tmp_path / "bad.txt"
    bad.write_text("numpy==2.4.6\nscipy>=1\n")
    with pytest.raises(BundleError, match=r"bad.txt:2: expected name==version"):
        read_image_packages(bad)
    text = bundle_pyproject((REPO / "pyproject.toml").read_text())
    assert '"torch>=2.10"' in text and '"snakemake>=9.0,<10"' in text and "torch==" not in text
    assert "\"batman-package; python_version < '3'\"" in text  # the bundle never simulates
    with pytest.raises(BundleError, match="0 dependencies match"):
        bundle_pyproject('dependencies = ["numpy"]', BUNDLE_REQUIREMENTS)


def test_fallback_is_the_train_constant() -> None:
    y = np.array([[0.01] * 283, [0.03] * 283])
    fb = fallback_constant(y)
    assert fb["method"] == "constant" and fb["train_planets"] == 2
    np.testing.assert_allclose(fb["mu"], 0.02, rtol=0, atol=1e-15)
    np.testing.assert_allclose(fb["sigma"], 0.01, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- the fence
def test_fence_projects_and_trips_only_when_the_next_planet_cannot_finish() -> None:
    # 10 planets of 100 s done in 1000 s, 90 left: projection 1000 + 90 * 100 = 10000 s
    s = fence_status(1000.0, 10, 90, 100.0, 20000.0)
    assert s.projected_s == 10000.0 and not s.trip
    # over the limit but a planet still fits (1000 + 100 < 5000): go on
    assert not fence_status(1000.0, 10, 90, 100.0, 5000.0).trip
    # over the limit and the next planet would end past it: trip
    s = fence_status(4950.0, 50, 50, 100.0, 5000.0)
    assert s.projected_s == 9900.0 and s.trip
    # nothing finished yet: trips only once the limit itself has passed
    assert not fence_status(10.0, 0, 5, 0.0, 11.0).trip
    assert fence_status(12.0, 0, 5, 0.0, 11.0).trip
    assert not fence_status(1e9, 5, 0, 100.0, 1.0).trip  # nothing left to stop


def kaggle_env_python() -> Path:
    """A venv with every version of the Kaggle image's package list (torch from the local
    2.13.0 CPU wheel in place of 2.10.0), built once and kept in
    ``$XDG_CACHE_HOME/spectramind/kaggle-env-<hash of the list and Python>`` (reused by later
    test runs and CI jobs on the machine)."""
    listing = SHARED_IMAGE_LIST if SHARED_IMAGE_LIST.is_file() else IMAGE_LIST
    base = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    text = listing.read_text()
    key = hashlib.sha256(f"{text}\n{sys.version}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spectramind"
    env = cache / f"kaggle-env-{key}"
    python = env / "bin" / "python"
    if (env / ".complete").is_file():
        return python
    shutil.rmtree(env, ignore_errors=True)
    env.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(base), "-m", "venv", str(env)], check=True, timeout=300)
    reqs = env / "requirements.txt"
    reqs.write_text(
        "".join(
            "torch==2.13.0\n" if line.startswith("torch==") else line + "\n"
            for line in text.splitlines()
        )
    )
    res = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(reqs)],
        capture_output=True,
        text=True,
        timeout=ENV_TIMEOUT_S,
        check=False,
    )
    assert res.returncode == 0, f"building the Kaggle env failed:\n{res.stderr[-4000:]}"
    (env / ".complete").write_text(text)
    return python


@pytest.fixture(scope="session")
def kaggle_python() -> Path:
    return kaggle_env_python()


def read_only_copy(src: Path, dst: Path, items: list[str]) -> Path:
    """Copy ``items`` of ``src`` to ``dst`` and make it read only (a Kaggle input dataset)."""
    for item in items:
        if (src / item).is_dir():
            shutil.copytree(src / item, dst / item)
        else:
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / item, dst / item)
    subprocess.run(["chmod", "-R", "a-w", str(dst)], check=True)
    return dst


def boot(small_run: Path, tmp_path: Path, python: Path, **extra_env: str):
    data = small_run / "results" / "simulated"
    inp = read_only_copy(
        data,
        tmp_path / "input",
        ["test", "test_star_info.csv", "adc_info.csv", "axis_info.parquet", "wavelengths.csv"],
    )
    bundle = read_only_copy(
        small_run / "results" / "kaggle",
        tmp_path / "bundle",
        sorted(p.name for p in (small_run / "results" / "kaggle").iterdir()),
    )
    out = tmp_path / "kaggle-working"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHON": str(python),
        "CORES": "2",
        "PIP_NO_INDEX": "1",
        **extra_env,
    }
    cmd = [*network_isolation(), "bash", str(bundle / "kaggle-boot.sh"), str(inp), str(out)]
    t0 = time.perf_counter()
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=BOOT_TIMEOUT_S, env=env, check=False
    )
    wall = time.perf_counter() - t0
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}"
    test_ids = io.read_star_info(inp / "test_star_info.csv").index.tolist()
    sub = validate_submission(out / "submission.csv", SCHEMA, planets=test_ids)
    fence = json.loads((out / "fence.json").read_text())
    print(f"boot wall time {wall:.1f} s (unshare -n: {bool(network_isolation())})")
    print(res.stderr[-4000:])
    return sub, fence, out, res


@pytest.mark.slow
def test_boot_in_the_kaggle_image_versions_offline_equals_the_workflow(
    small_run: Path, tmp_path: Path, kaggle_python: Path
) -> None:
    versions = subprocess.run(
        [
            str(kaggle_python),
            "-c",
            "import numpy, pandas, scipy, torch; print(numpy.__version__,"
            " pandas.__version__, scipy.__version__, torch.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert versions[:3] == ["2.4.6", "2.3.3", "1.16.3"]
    probe = subprocess.run(
        [str(kaggle_python), "-c", "import snakemake"], capture_output=True, text=True, check=False
    )
    assert "No module named 'snakemake'" in probe.stderr  # only the bundle can provide it
    sub, fence, out, res = boot(small_run, tmp_path, kaggle_python)
    assert f"from {out}/spectramind-work/site/spectramind/__init__.py" in res.stderr
    assert not fence["tripped"] and all(p["path"] == "model" for p in fence["planets"])
    ref = pd.read_csv(small_run / "results" / "predictions" / "model" / "test.csv")
    got = sub.set_index("planet_id").loc[ref["planet_id"]].to_numpy()
    want = ref.set_index("planet_id").to_numpy()
    print(f"max |boot - workflow| = {np.abs(got - want).max():.3g}")
    np.testing.assert_allclose(got, want, rtol=0, atol=BOOT_ATOL)
    ran = out / "spectramind-work" / "run" / "results"
    assert not (ran / "simulated").exists() and not (ran / "model").exists()


@pytest.mark.slow
def test_fence_with_a_tiny_limit_still_writes_a_complete_submission(
    small_run: Path, tmp_path: Path, kaggle_python: Path
) -> None:
    sub, fence, out, res = boot(small_run, tmp_path, kaggle_python, WALL_LIMIT_H="1e-6")
    ids = sub["planet_id"].tolist()
    assert fence["tripped"] and fence["wall_limit_h"] == 1e-6
    flagged = [p["planet_id"] for p in fence["planets"] if p["path"] == "fallback"]
    assert sorted(flagged) == sorted(ids) and all(p["reason"] == "fence" for p in fence["planets"])
    for pid in ids:
        assert f"planet {pid} falls back to the train constant (fence)" in res.stderr
    fb = json.loads((small_run / "results" / "kaggle" / "fallback.json").read_text())
    rows = sub.set_index("planet_id")
    np.testing.assert_array_equal(rows[io.WL_COLUMNS].to_numpy(), np.tile(fb["mu"], (len(ids), 1)))
    np.testing.assert_array_equal(
        rows[io.SIGMA_COLUMNS].to_numpy(), np.tile(fb["sigma"], (len(ids), 1))
    )
    print("fallback planets:", flagged)
