"""Kill and resume: a run interrupted with SIGINT while ``calibrate`` jobs run, then rerun,
ends with outputs byte-identical to an uninterrupted run.

Two ways a user interrupts a run:

* Ctrl-C in the terminal: SIGINT reaches Snakemake and its running jobs (one process group).
  The jobs die, Snakemake deletes their outputs, and a plain rerun redoes them.
* ``kill -INT <snakemake pid>``: only Snakemake gets it. It lets the running jobs finish, starts
  no new one and exits with their outputs marked incomplete; a plain rerun refuses them and
  says to add ``--rerun-incomplete`` (set by ``profiles/local``), which redoes them.

The targets are the cubes and the physics predictions of the test split (calibrate, phase,
fit_transit, recalibrate_physics, predict_physics): everything downstream of the interrupted
calibration that does not need the model, whose determinism test_determinism.py checks.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conftest import link_workflow, run_command, snakemake_command
from spectramind import io

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PRODUCTS = ("series", "cubes", "physics", "recalibration", "predictions")
STARTUP_TIMEOUT_S = (
    300  # Snakemake start-up and the first calibrate job's imports, on a busy 2-core machine
)
RUN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def root(tiny_dataset) -> Path:
    return tiny_dataset(n_train=2, n_test=1, seed=1, second_visit_fraction=0.1)


def targets(root: Path, *, predictions: bool = True) -> list[str]:
    planets = [p for s in ("train", "test") for p in io.list_planets(root, s)]
    return [f"results/cubes/{p}.nc" for p in planets] + [
        "results/predictions/physics/test.csv"
    ] * predictions


def command(wd: Path, root: Path, *extra: str, predictions: bool = True) -> list[str]:
    link_workflow(wd)
    (wd / "test_config.yaml").write_text(yaml.safe_dump({"data": {"root": str(root)}}))
    return snakemake_command(
        wd,
        *targets(root, predictions=predictions),
        "--cores",
        "2",
        *extra,
        configfile=wd / "test_config.yaml",
    )


def run(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    return run_command(cmd, check=check, timeout=RUN_TIMEOUT_S)


def digests(wd: Path) -> dict[str, str]:
    """sha256 of every product file, by path relative to the working directory."""
    files = sorted(f for d in PRODUCTS for f in (wd / "results" / d).rglob("*") if f.is_file())
    return {str(f.relative_to(wd)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope="module")
def reference(root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    wd = tmp_path_factory.mktemp("uninterrupted")
    run(command(wd, root))
    out = digests(wd)
    assert {f"results/{t}" for t in ("predictions/physics/test.csv",)} <= set(out)
    return out


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def running_calibrations(wd: Path) -> list[str]:
    """Planets whose calibrate job has started (its script opened the log) and not finished."""
    # rule calibrate_cube makes a cube (calibrate and phase in one job): its log, or calibrate's
    logs = (wd / "results" / "logs").glob("calibrate*/*.log")
    return [p.stem for p in logs if not (wd / "results" / "series" / f"{p.stem}.nc").exists()]


def _default_sigint() -> None:
    """In the child: SIGINT back to its default, as in a user's terminal. A test runner started
    in the background of a non-interactive shell (``cmd &``, e.g. under ``nohup``) ignores
    SIGINT, children inherit that, and Python then installs no KeyboardInterrupt handler:
    Snakemake would never see the interrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_during_calibration(
    cmd: list[str], wd: Path, send: Callable[[subprocess.Popen], None]
) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Start ``cmd``, call ``send(process)`` once a calibrate job is running, wait for the exit."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    try:
        assert wait_for(
            lambda: bool(running_calibrations(wd)) or proc.poll() is not None, STARTUP_TIMEOUT_S
        )
        assert proc.poll() is None, "the run ended before a calibrate job started"
        interrupted = running_calibrations(wd)
        assert interrupted, "the calibrate job finished before the interrupt could be sent"
        send(proc)
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, ""), interrupted


def assert_no_partial_files(wd: Path) -> None:
    assert not list(wd.glob("results/**/*.part"))


def test_ctrl_c_then_rerun_matches_an_uninterrupted_run(
    root: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    cmd = command(tmp_path, root)
    res, interrupted = interrupt_during_calibration(
        cmd, tmp_path, lambda p: os.killpg(p.pid, signal.SIGINT)
    )
    assert res.returncode != 0
    assert "Terminating processes on user request" in res.stdout
    assert "KeyboardInterrupt" in res.stdout  # the calibrate jobs were stopped mid-way ...
    for planet in interrupted:  # ... and left no output, whole or partial
        assert not (tmp_path / "results" / "series" / f"{planet}.nc").exists()
    assert_no_partial_files(tmp_path)
    assert not (tmp_path / "results" / "predictions").exists()
    run(cmd)  # the plain command resumes
    assert digests(tmp_path) == reference


def test_sigint_to_snakemake_then_rerun_incomplete_matches(
    root: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    """Cubes only (the calibration chain): the Ctrl-C test covers the rest of the targets."""
    cmd = command(tmp_path, root, predictions=False)
    res, interrupted = interrupt_during_calibration(
        cmd, tmp_path, lambda p: p.send_signal(signal.SIGINT)
    )
    assert res.returncode != 0
    assert "Terminating processes on user request" in res.stdout
    assert_no_partial_files(tmp_path)
    again = run(cmd, check=False)
    print(f"plain rerun exit status {again.returncode}")
    if again.returncode != 0:  # the jobs that ran on are marked incomplete: redo them on request
        assert "--rerun-incomplete" in again.stderr + again.stdout
        for planet in interrupted:
            assert f"results/series/{planet}.nc" in again.stderr + again.stdout
        run(command(tmp_path, root, "--rerun-incomplete", predictions=False))
    got = digests(tmp_path)
    assert got == {
        k: v for k, v in reference.items() if k.startswith(("results/series/", "results/cubes/"))
    }
