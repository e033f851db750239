"""The Kaggle bundle at run time: the requirement check and the fenced run (``kaggle-boot.sh``).

``python -m spectramind.kaggle_run check``: every requirement of the installed ``spectramind``
distribution, followed through the dependencies, is met by an installed version (the image's
or the bundle's); exit 2 naming the ones that are not.

``python -m spectramind.kaggle_run run BUNDLE INPUT OUTPUT WORK``: the pipeline on the test
split of INPUT under a runtime fence. The per-planet chain (calibrate, phase, fit_transit) of
every planet runs in one Snakemake process; each finished planet's time is recorded and the
finish of the remaining planets is projected. When the projection passes ``kaggle.wall_limit_h``
(counted from the boot script's start) and the next planet could no longer finish inside the
limit, Snakemake is interrupted and every planet not finished falls back to the cheapest valid
prediction: the train constant shipped in the bundle (``fallback.json``: the mean training
depth in every bin, one sigma = the rms of the training labels; no calibration needed). The
finished planets are predicted by the submitted method; the merged submission.csv is validated
against the schema and the full planet list, and ``fence.json`` beside it flags every fallback
planet (also logged). A planet whose chain fails falls back the same way (reason ``failed``).

Only the standard library, numpy, pandas, PyYAML, jsonschema and packaging are imported here
(all in the Kaggle image).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from spectramind.atomic import atomic_write, atomic_write_text

log = logging.getLogger("spectramind.kaggle")

__all__ = [
    "Dist",
    "FenceStatus",
    "fence_status",
    "install_plan",
    "installed_distributions",
    "requirement_closure",
    "run_bundle",
    "unmet_requirements",
]

#: Per-planet rules whose benchmark files give a planet's recorded time (seconds).
#: A cube is made by ``calibrate`` (one job) or by ``calibrate_series`` then ``phase``; the sum
#: covers both; ``fit_transit`` is last (its benchmark file marks a planet done).
PLANET_RULES = ("calibrate_series", "calibrate", "phase", "fit_transit")
FENCE_FILE = "fence.json"
FALLBACK_FILE = "fallback.json"
POPULATION_FILE = "population.json"
RECALIBRATION_FILE = "recalibration.json"
POLL_S = 2.0


@dataclass(frozen=True)
class Dist:
    """An installed distribution: its version and its ``Requires-Dist`` strings."""

    version: str
    requires: tuple[str, ...] = ()


def installed_distributions(path: Sequence[str] | None = None) -> dict[str, Dist]:
    """{canonical name: Dist} of what ``path`` (default ``sys.path``) holds; the first found
    of a name wins, as for an import."""
    out: dict[str, Dist] = {}
    found = metadata.distributions() if path is None else metadata.distributions(path=list(path))
    for d in found:
        name = d.metadata["Name"]
        if not name:
            continue
        out.setdefault(canonicalize_name(name), Dist(d.version, tuple(d.requires or ())))
    return out


def _wanted(req: Requirement, extras: Iterable[str], env: Mapping[str, str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**env, "extra": e}) for e in (list(extras) or [""]))


def requirement_closure(
    roots: Iterable[str],
    dists: Mapping[str, Dist],
    environments: Iterable[Mapping[str, str]],
    *,
    missing_ok: bool = False,
) -> dict[str, str]:
    """{canonical name: installed version} of the distributions that ``roots`` (requirement
    strings, markers evaluated without extras) need, followed through every ``Requires-Dist`` whose marker holds in one of
    ``environments`` (with the extras each requirement asks for).

    A needed distribution missing from ``dists`` raises KeyError naming it and who needs it,
    unless ``missing_ok`` (then it is left out, its own requirements unknown).
    """
    envs = [dict(e) for e in environments]
    out: dict[str, str] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    reqs = (Requirement(r) for r in roots)
    stack = [(r, "the roots") for r in reqs if any(_wanted(r, (), e) for e in envs)]
    while stack:
        req, parent = stack.pop()
        name = canonicalize_name(req.name)
        extras = frozenset(req.extras)
        if (name, extras) in done:
            continue
        done.add((name, extras))
        dist = dists.get(name)
        if dist is None:
            if missing_ok:
                continue
            raise KeyError(f"{req} (needed by {parent}) is not installed")
        out[name] = dist.version
        for r in dist.requires:
            sub = Requirement(r)
            if any(_wanted(sub, extras, e) for e in envs):
                stack.append((sub, f"{name} {dist.version}"))
    return out


def unmet_requirements(
    root: str, dists: Mapping[str, Dist], env: Mapping[str, str] | None = None
) -> list[str]:
    """Every requirement in the dependency tree of the installed distribution ``root`` that
    no installed version meets (missing, or a version outside the specifier), one line each;
    [] when the environment runs ``root``. Markers are evaluated in ``env`` (default: this
    interpreter)."""
    marker_env: dict[str, str] = (
        dict(env) if env is not None else {k: str(v) for k, v in default_environment().items()}
    )
    problems: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    name = canonicalize_name(root)
    if name not in dists:
        return [f"{root} is not installed"]
    stack = [(name, frozenset[str](), f"{name} {dists[name].version}")]
    while stack:
        name, extras, who = stack.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for r in dists[name].requires:
            try:
                req = Requirement(r)
            except InvalidRequirement as exc:
                problems.append(f"{who}: unreadable requirement {r!r} ({exc})")
                continue
            if not _wanted(req, extras, marker_env):
                continue
            dep = canonicalize_name(req.name)
            have = dists.get(dep)
            if have is None:
                problems.append(f"{who} needs {req}: not installed")
                continue
            try:
                ok = req.specifier.contains(Version(have.version), prereleases=True)
            except InvalidVersion:
                ok = False
            if not ok:
                problems.append(f"{who} needs {req}: {have.version} is installed")
                continue
            stack.append((dep, frozenset(req.extras), f"{dep} {have.version}"))
    return sorted(set(problems))


def install_plan(dependencies: Iterable[Mapping[str, str]], dists: Mapping[str, Dist]) -> list[str]:
    """``name==version`` of the bundled ``dependencies`` (bundle.json: name, version, requires)
    to install: those not installed, or installed at a version outside ``requires``. Any
    other is the image's and stays in use."""
    out = []
    for d in dependencies:
        have = dists.get(canonicalize_name(d["name"]))
        if have is not None:
            try:
                ok = SpecifierSet(d.get("requires", "")).contains(
                    Version(have.version), prereleases=True
                )
            except InvalidVersion:
                ok = False
            if ok:
                continue
            log.info(
                "%s %s does not meet %s%s: the bundle's %s is used",
                d["name"],
                have.version,
                d["name"],
                d.get("requires", ""),
                d["version"],
            )
        out.append(f"{d['name']}=={d['version']}")
    return out


# --------------------------------------------------------------------------- the runtime fence
@dataclass(frozen=True)
class FenceStatus:
    """The fence's view at one moment: projected finish of every planet (s since the start)
    and whether the remaining planets fall back now."""

    elapsed_s: float
    done: int
    remaining: int
    projected_s: float
    trip: bool


def fence_status(
    elapsed_s: float, done: int, remaining: int, planet_s: float, limit_s: float
) -> FenceStatus:
    """Project the run and decide whether it stops here.

    ``elapsed_s`` since the run's start, ``done`` planets finished, ``remaining`` not finished,
    ``planet_s`` the wall time of one planet's chain (the longest recorded; 0 before any).
    The projection is linear in the observed throughput: elapsed + remaining * elapsed / done
    (elapsed alone before any planet finished). The fence trips when the projection passes
    ``limit_s`` and one more planet started now would end past it (elapsed + planet_s >=
    limit_s): planets keep their full path for as long as one can still finish.
    """
    if remaining <= 0:
        return FenceStatus(elapsed_s, done, 0, elapsed_s, False)
    projected = elapsed_s + remaining * elapsed_s / done if done > 0 else elapsed_s
    trip = projected > limit_s and elapsed_s + planet_s >= limit_s
    return FenceStatus(elapsed_s, done, remaining, projected, trip)


def benchmark_seconds(benchmarks: Path, planet: int, rules: Iterable[str] = PLANET_RULES) -> float:
    """Sum of the wall seconds (column ``s``) of a planet's per-planet benchmark files."""
    total = 0.0
    for rule in rules:
        f = benchmarks / rule / f"{planet}.tsv"
        if f.is_file():
            lines = f.read_text().splitlines()
            if len(lines) >= 2:
                header, row = lines[0].split("\t"), lines[1].split("\t")
                total += float(row[header.index("s")])
    return total


def _snakemake(run: Path, configs: Sequence[Path], cores: str, *targets: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        *targets,
        "--snakefile",
        str(run / "Snakefile"),
        "--directory",
        str(run),
        "--cores",
        cores,
        "--nolock",  # the run folder is this run's own; a killed phase leaves no stale lock
        "--configfile",
        *map(str, configs),
    ]


def _input_view(input_dir: Path, view: Path, planets: Iterable[int]) -> None:
    """``view``: links to the challenge files of ``input_dir`` and to its test planets
    ``planets`` only (what the workflow sees as data.root)."""
    (view / "test").mkdir(parents=True, exist_ok=True)
    for f in ("adc_info.csv", "axis_info.parquet", "wavelengths.csv", "test_star_info.csv"):
        if not (view / f).exists():
            (view / f).symlink_to(input_dir / f)
    keep = {str(p) for p in planets}
    for link in (view / "test").iterdir():
        if link.name not in keep:
            link.unlink()
    for p in sorted(keep):
        if not (view / "test" / p).exists():
            (view / "test" / p).symlink_to(input_dir / "test" / p)


def run_bundle(
    bundle: Path,
    input_dir: Path,
    output: Path,
    work: Path,
    *,
    cores: str = "all",
    started: float | None = None,
    wall_limit_h: float | None = None,
    poll_s: float = POLL_S,
) -> dict[str, Any]:
    """Run the bundle's pipeline under the fence; write ``output/submission.csv`` and
    ``output/fence.json``; return the fence record. See the module docstring."""
    from spectramind import io

    started = time.time() if started is None else started
    cfg = yaml.safe_load((bundle / "config.yaml").read_text())
    limit_h = float(cfg["kaggle"]["wall_limit_h"] if wall_limit_h is None else wall_limit_h)
    fallback = json.loads((bundle / FALLBACK_FILE).read_text())
    planets = io.list_planets(input_dir, "test")
    run, view, configs = _prepare_run(bundle, input_dir, work, planets)
    log.info(
        "fence: %d planets, limit %.3f h from the boot's start, cores %s (%d here)",
        len(planets),
        limit_h,
        cores,
        os.cpu_count() or 0,
    )
    fenced = _FencedRun(run, planets, started, limit_h * 3600.0, poll_s)
    if not fenced.tripped:
        targets = [f"results/physics/{p}.nc" for p in planets]
        fenced.watch(_snakemake(run, configs, cores, *targets, "--keep-going"))
    full = fenced.finished()
    reason = "fence" if fenced.tripped else "failed"
    fell_back = [p for p in planets if p not in full]
    for p in fell_back:
        log.warning("fence: planet %d falls back to the train constant (%s)", p, reason)
    frames = []
    if full:
        _input_view(input_dir, view, full)
        frames.append(_submit_finished(run, configs, cores, full))
    if fell_back:
        frames.append(_fallback_frame(fallback, fell_back))
    _write_merged(frames, planets, output, _schema(run))
    fence = _fence_record(
        cfg, limit_h, started, fenced, planets, fell_back, reason, fallback["method"]
    )
    atomic_write_text(output / FENCE_FILE, json.dumps(fence, indent=2) + "\n")
    log.info(
        "fence: %d planets by %s, %d fallback (%s); %.3f h of %.3f h",
        len(full),
        fence["method"],
        len(fell_back),
        ", ".join(map(str, fell_back)) or "none",
        fence["elapsed_h"],
        limit_h,
    )
    if fenced.failed and not fenced.tripped:
        log.warning("fence: snakemake reported failed planets (see its log above)")
    return fence


def _prepare_run(
    bundle: Path, input_dir: Path, work: Path, planets: Sequence[int]
) -> tuple[Path, Path, list[Path]]:
    """A fresh copy of the bundle's workflow (``work/run``), the input view of ``planets``
    (``work/input``) and the config files (the bundle's, then the overrides pointing at the
    view and the shipped checkpoint)."""
    run, view = work / "run", work / "input"
    for d in (run, view):
        if d.exists():
            shutil.rmtree(d)
    shutil.copytree(bundle / "workflow", run)
    _input_view(input_dir, view, planets)
    overrides: dict[str, Any] = {"data": {"root": str(view)}}
    if (bundle / "checkpoint").is_dir():
        overrides["model"] = {"checkpoint": str(bundle / "checkpoint")}
    if (bundle / POPULATION_FILE).is_file():
        overrides["physics"] = {"population": str(bundle / POPULATION_FILE)}
    if (bundle / RECALIBRATION_FILE).is_file():
        overrides["recalibration"] = {"file": str(bundle / RECALIBRATION_FILE)}
    (work / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    return run, view, [bundle / "config.yaml", work / "overrides.yaml"]


class _FencedRun:
    """The per-planet chains of one Snakemake process under the fence: records each finished
    planet's time, projects the finish and interrupts Snakemake when the fence trips."""

    def __init__(
        self, run: Path, planets: Sequence[int], started: float, limit_s: float, poll_s: float
    ) -> None:
        self.run, self.planets, self.started = run, list(planets), started
        self.limit_s, self.poll_s = limit_s, poll_s
        self.benchmarks = run / "results" / "benchmarks"
        self.record: dict[int, float] = {}
        self.failed = False
        self.tripped = self.status().trip  # already past the limit: nothing is started

    def finished(self) -> list[int]:
        return [p for p in self.planets if (self.run / "results" / "physics" / f"{p}.nc").is_file()]

    def status(self) -> FenceStatus:
        return fence_status(
            time.time() - self.started,
            len(self.record),
            len(self.planets) - len(self.record),
            max(self.record.values(), default=0.0),
            self.limit_s,
        )

    def _note_finished(self) -> None:
        for p in self.finished():
            # recorded once its last benchmark file is written (after its output)
            if p not in self.record and (self.benchmarks / PLANET_RULES[-1] / f"{p}.tsv").is_file():
                self.record[p] = benchmark_seconds(self.benchmarks, p)
                log.info(
                    "fence: planet %d done, %.1f s recorded (%d/%d)",
                    p,
                    self.record[p],
                    len(self.record),
                    len(self.planets),
                )

    def watch(self, cmd: Sequence[str]) -> None:
        """Run ``cmd`` and poll it until it ends or the fence trips (then SIGINT, SIGKILL after
        two minutes)."""
        proc = subprocess.Popen(cmd, start_new_session=True)
        while True:
            rc = proc.poll()
            self._note_finished()
            status = self.status()
            if rc is not None:
                self.failed = rc != 0
                for p in self.finished():  # the last ones, once Snakemake has written everything
                    self.record.setdefault(p, benchmark_seconds(self.benchmarks, p))
                return
            if status.trip:
                self.tripped = True
                log.warning(
                    "fence: projected %.3f h > limit %.3f h at %.3f h with %d planets left: "
                    "stopping, the remaining planets fall back",
                    status.projected_s / 3600,
                    self.limit_s / 3600,
                    status.elapsed_s / 3600,
                    status.remaining,
                )
                _interrupt(proc)
                return
            time.sleep(self.poll_s)


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _submit_finished(run: Path, configs: Sequence[Path], cores: str, full: Sequence[int]) -> Any:
    """The submitted method's validated predictions of the finished planets (rule submit)."""
    from spectramind.submission import validate_submission

    res = subprocess.run(_snakemake(run, configs, cores, "submit"), check=False)
    if res.returncode != 0:
        raise RuntimeError(f"snakemake submit failed ({res.returncode}) in {run}")
    return validate_submission(run / "results" / "submission.csv", _schema(run), planets=full)


def _fallback_frame(fallback: Mapping[str, Any], planets: Sequence[int]) -> pd.DataFrame:
    """The train constant of the bundle's ``fallback.json`` for ``planets``."""
    from spectramind.predict import submission_frame

    mu = np.tile(np.asarray(fallback["mu"], dtype=float), (len(planets), 1))
    sigma = np.tile(np.asarray(fallback["sigma"], dtype=float), (len(planets), 1))
    return submission_frame(np.asarray(planets), mu, sigma)


def _write_merged(
    frames: Sequence[pd.DataFrame], planets: Sequence[int], output: Path, schema: Path
) -> None:
    """``output/submission.csv``: the frames in the order of ``planets``, validated against the
    schema and the full planet list before it takes the final name."""
    from spectramind.submission import validate_submission

    sub = pd.concat(frames, ignore_index=True).set_index("planet_id").loc[planets].reset_index()
    output.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        sub.to_csv(tmp, index=False, float_format="%.17g")
        validate_submission(tmp, schema, planets=planets)

    atomic_write(output / "submission.csv", write)


def _fence_record(
    cfg: Mapping[str, Any],
    limit_h: float,
    started: float,
    fenced: _FencedRun,
    planets: Sequence[int],
    fell_back: Sequence[int],
    reason: str,
    fallback_method: str,
) -> dict[str, Any]:
    method = cfg["submission"]["method"]
    return {
        "wall_limit_h": limit_h,
        "elapsed_h": (time.time() - started) / 3600,
        "tripped": fenced.tripped,
        "method": method,
        "fallback": fallback_method,
        "planets": [
            {
                "planet_id": p,
                "path": "fallback" if p in fell_back else method,
                "reason": reason if p in fell_back else None,
                "seconds": fenced.record.get(p),
            }
            for p in planets
        ],
    }


def _schema(run: Path) -> Path:
    return run / "schemas" / "submission.schema.json"


def main(argv: Sequence[str] | None = None) -> int:
    """``check`` or ``run BUNDLE INPUT OUTPUT WORK`` (see the module docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="kaggle-boot: %(message)s", stream=sys.stderr)
    if args[:1] == ["check"]:
        problems = unmet_requirements("spectramind", installed_distributions())
        for p in problems:
            print(f"kaggle-boot: error: {p}", file=sys.stderr)
        return 2 if problems else 0
    if args[:1] == ["plan"] and len(args) == 2:
        deps = json.loads(Path(args[1]).read_text())["dependencies"]
        for line in install_plan(deps, installed_distributions()):
            print(line)
        return 0
    if args[:1] == ["run"] and len(args) == 5:
        bundle, input_dir, output, work = (Path(a).resolve() for a in args[1:])
        limit = os.environ.get("WALL_LIMIT_H")
        started = os.environ.get("BOOT_STARTED")
        fence = run_bundle(
            bundle,
            input_dir,
            output,
            work,
            cores=os.environ.get("CORES", "all"),
            started=float(started) if started else None,
            wall_limit_h=float(limit) if limit else None,
        )
        return 0 if fence["planets"] else 1
    print(
        "usage: python -m spectramind.kaggle_run check | plan BUNDLE_JSON | run BUNDLE INPUT OUTPUT WORK",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
