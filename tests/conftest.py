"""Shared fixtures: the real Ariel files shipped in ``resources/ariel`` (read once per session)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from spectramind import io

ARIEL = Path(__file__).resolve().parents[1] / "resources" / "ariel"


@pytest.fixture(scope="session")
def ariel() -> Path:
    """``resources/ariel`` (README.md, 2024/, 2025/)."""
    return ARIEL


@pytest.fixture(scope="session")
def real_maps() -> dict[str, io.CalibrationMaps]:
    """Real calibration maps of planet 342072318, visit 0, per instrument."""
    cal = ARIEL / "2025" / "calibration"
    return {i: io.read_calibration(cal / f"{i}_calibration_0", i) for i in io.INSTRUMENTS}


@pytest.fixture(scope="session")
def real_axis() -> io.AxisInfo:
    return io.read_axis_info(ARIEL / "2025" / "axis_info.parquet")


@pytest.fixture(scope="session")
def real_adc() -> dict[str, tuple[float, float]]:
    return io.read_adc_info(ARIEL / "2025" / "adc_info.csv")


@pytest.fixture(scope="session")
def real_wavelengths() -> np.ndarray:
    return io.read_wavelengths(ARIEL / "2025" / "wavelengths.csv")


# --- tiny simulated datasets, each made once per session --------------------------------------
TINY_TIME_SCALE = 250  # 250x fewer frame pairs: a planet simulates and calibrates in seconds


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory):
    """Factory ``tiny_dataset(n_train=2, n_test=1, seed=1, second_visit_fraction=0.1)``: the
    root of a tiny challenge-layout dataset, simulated once per argument set and session and
    shared: a test that damages files must work on a copy (``shutil.copytree``)."""
    from spectramind import sim  # the tests that need no simulated data never import it

    made: dict[tuple[int, int, int, float], Path] = {}

    def make(
        *, n_train: int = 2, n_test: int = 1, seed: int = 1, second_visit_fraction: float = 0.1
    ) -> Path:
        key = (n_train, n_test, seed, second_visit_fraction)
        if key not in made:
            root = tmp_path_factory.mktemp("tiny") / "data"
            sim.simulate_dataset(
                root,
                n_train=n_train,
                n_test=n_test,
                seed=seed,
                time_scale=TINY_TIME_SCALE,
                second_visit_fraction=second_visit_fraction,
                log=lambda msg: None,
            )
            made[key] = root
        return made[key]

    return make


@pytest.fixture(scope="session")
def clean_root(tiny_dataset) -> Path:
    """The default tiny root (2 train + 1 test planets, one with a second visit), shared."""
    return tiny_dataset(n_train=2, n_test=1, seed=1, second_visit_fraction=0.1)


@pytest.fixture()
def root(clean_root: Path, tmp_path: Path) -> Path:
    """A private copy of the clean root, to break (a module may define its own ``root``)."""
    dst = tmp_path / "data"
    shutil.copytree(clean_root, dst)
    return dst


# --- the one Snakemake runner of the tests ---------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
SMALL_CONFIG = REPO / "tests" / "data" / "config_small.yaml"
SNAKEMAKE_TIMEOUT_S = 3600  # the whole tiny run takes ~5 min on 2 busy cores
#: what a working directory links from the checkout (`--directory` runs find config/ there)
WORKFLOW_LINKS = ("config", "schemas", "workflow", "resources")


def link_workflow(workdir: Path, *extra: str) -> Path:
    """``workdir`` (made if missing) with the checkout's config/, schemas/, workflow/,
    resources/ and ``extra`` folders linked into it; returns it."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in (*WORKFLOW_LINKS, *extra):
        if not (workdir / name).exists():
            (workdir / name).symlink_to(REPO / name)
    return workdir


def snakemake_command(
    workdir: Path, *args: str, configfile: Path | None = SMALL_CONFIG
) -> list[str]:
    """The command line running the checkout's Snakefile in ``workdir`` with this Python
    (its environment's Snakemake), ``configfile`` (None: none) and ``args``."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(workdir)]
    rest = [str(a) for a in args]
    if configfile is not None:  # last (before a `--`): --configfile takes every word up to
        # the next option, so targets after it would be read as config files
        at = rest.index("--") if "--" in rest else len(rest)
        rest[at:at] = ["--configfile", str(configfile)]
    return cmd + rest


def run_snakemake(
    workdir: Path,
    *args: str,
    configfile: Path | None = SMALL_CONFIG,
    check: bool = True,
    timeout: float = SNAKEMAKE_TIMEOUT_S,
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command`; with ``check``, a failure is an AssertionError showing
    the end of its output."""
    return run_command(
        snakemake_command(workdir, *args, configfile=configfile), check=check, timeout=timeout
    )


def run_command(
    cmd: list[str], *, check: bool = True, timeout: float = SNAKEMAKE_TIMEOUT_S
) -> subprocess.CompletedProcess:
    """Run ``cmd`` (e.g. a :func:`snakemake_command`) capturing its output; with ``check``, a
    failure is an AssertionError showing the end of its output."""
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}")
    return res


@pytest.fixture(scope="session")
def snakemake_small():
    """``snakemake_small(workdir, *args, check=True)``: :func:`run_snakemake` with
    tests/data/config_small.yaml."""
    return run_snakemake


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory where the whole default target and the Kaggle bundle have run
    (``--cores 2``) on the tiny config: cubes, fits, model, predictions, scores, submission,
    diagnostics, manifest and ``results/kaggle`` (shared by test_submit, test_kaggle,
    test_diagnostics, test_report, test_lineage)."""
    wd = link_workflow(tmp_path_factory.mktemp("small_run"))
    run_snakemake(wd, "--cores", "2", "all", "results/kaggle")
    return wd


@dataclass(frozen=True)
class RuleFacts:
    """What the tests check of a rule, read from its (snakefmt-formatted) rule file."""

    name: str
    benchmark: str | None
    conda_env: str | None
    script: str | None
    runtime: int | None
    runs: (
        bool | None
    )  # a job-running rule (script:, shell: or run:), not a target rule like ``all``


def _directive_values(block: list[str]) -> dict[str, list[str]]:
    """``{directive: [value lines]}`` of one rule block (directives at 4 spaces, values at 8)."""
    out: dict[str, list[str]] = {}
    key = None
    for line in block:
        head = re.match(r"^    (\w+):\s*(.*)$", line)
        if head:
            key = head.group(1)
            out[key] = [head.group(2)] if head.group(2) else []
        elif key and line.startswith("        ") and line.strip():
            out[key].append(line.strip())
    return out


def parse_rules(rule_files: list[Path]) -> list[RuleFacts]:
    """Every ``rule NAME:`` and ``use rule BASE as NAME with:`` of ``rule_files`` with its
    benchmark, conda env, script and runtime (string literals as written; snakefmt keeps one
    directive per line; a ``use rule`` inherits what it does not override)."""
    head = re.compile(r"^(?:rule (\w+)|use rule (\w+) as (\w+) with):")
    rules: dict[str, RuleFacts] = {}
    for path in rule_files:
        lines = path.read_text().splitlines()
        starts = [k for k, line in enumerate(lines) if head.match(line)]
        for a, b in zip(starts, [*starts[1:], len(lines)][: len(starts)], strict=True):
            m = head.match(lines[a])
            assert m is not None
            name, base = (m.group(1), None) if m.group(1) else (m.group(3), m.group(2))
            d = _directive_values(lines[a + 1 : b])
            runtime = next(
                (
                    int(v.split("=")[1].rstrip(","))
                    for v in d.get("resources", [])
                    if v.startswith("runtime=")
                ),
                None,
            )
            facts = {
                "benchmark": _literal(d, "benchmark"),
                "conda_env": _literal(d, "conda"),
                "script": _literal(d, "script"),
                "runtime": runtime,
                "runs": any(k in d for k in ("script", "shell", "run")) or None,
            }
            inherited = rules[base].__dict__ if base else {}
            rules[name] = RuleFacts(
                name=name,
                **{k: v if v is not None else inherited.get(k) for k, v in facts.items()},
            )
    return [replace(r, runs=bool(r.runs)) for r in rules.values()]


def _literal(d: dict[str, list[str]], key: str) -> str | None:
    vals = d.get(key) or []
    return vals[0].strip('",') if vals else None


@pytest.fixture(scope="session")
def job_rules() -> list[RuleFacts]:
    """The rules of the workflow that run a job, read from ``workflow/rules/*.smk`` and the
    Snakefile, checked against ``snakemake --list-rules`` (the public CLI): a rule the parse
    missed fails here rather than escaping the checks."""
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    rules = parse_rules(files)
    listed = subprocess.run(
        snakemake_command(REPO, "--list-rules", configfile=None),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    listed = [line.split()[0] for line in listed if line and not line[0].isspace()]
    assert sorted(r.name for r in rules) == sorted(listed), "rule files and --list-rules differ"
    return [r for r in rules if r.runs]
