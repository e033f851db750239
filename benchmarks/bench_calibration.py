"""Calibration speed and memory on one full-size planet, against the time to read its files.

Measured side by side in one run, each repetition in a fresh process (so peak RSS is the
process's own), interleaved so that machine noise hits all alike:

- floor: ``pyarrow.parquet.read_table`` of the two signal parquets and ``to_numpy`` of every
  column (decoding only: no copy, no checks, no layout);
- reader: :func:`spectramind.io.read_signal` of the two signals, (frames, 32, W) uint16;
- chain: the whole in-process chain from the files to the cube (streamed read + pixel
  kernel, cosmic rays, photometry, trace, phase, NetCDF write), with the time of each step;
- workflow (``--workflow``): the planet's jobs through Snakemake (``calibrate`` + ``phase``,
  ``--cores 1``), their wall time and peak RSS from their benchmark files, and the
  projection of those files to ``--planets`` planets on ``--cores`` cores
  (:mod:`spectramind.budget`).

``--before SRC`` adds the chain (and the workflow jobs) of another source tree (e.g. a
``git archive`` of main) in the same run, for before/after figures. Numba kernels are
compiled (cached) by one untimed run per tree first: that is once per environment.
Goals: chain <= 1.3 x floor, workflow jobs <= 1.6 x floor, peak RSS <= 2 GB.

Run: ``.venv/bin/python benchmarks/bench_calibration.py --data ROOT [--repeat 3]
[--workflow] [--before /tmp/main/src]``. ROOT holds one full-size planet (split train or
test); without ``--data`` one is simulated first (about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_CHAIN, GOAL_WORKFLOW, GOAL_RSS_GB = 1.3, 1.6, 2.0
REPO = Path(__file__).resolve().parents[1]
#: the rules that can make a planet's cube (one job ``calibrate``, or ``calibrate_series`` then
#: ``phase`` in a tree without it): those that ran have a benchmark file
WORKFLOW_RULES = ("calibrate_series", "calibrate", "phase")


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _result(t0: float, cpu0: float, **extra: object) -> dict:
    return {
        "wall": time.perf_counter() - t0,
        "cpu": _cpu_s() - cpu0,
        "rss": _peak_rss_gb(),
        **extra,
    }


def _planet(root: Path) -> tuple[str, int]:
    from spectramind import io

    for split in ("train", "test"):
        if (root / split).is_dir() and (ids := io.list_planets(root, split)):
            return split, ids[0]
    raise SystemExit(f"{root}: no planet in train/ or test/")


def child_floor(root: Path) -> dict:
    import pyarrow.parquet as pq

    from spectramind import io

    split, planet = _planet(root)
    t, cpu = time.perf_counter(), _cpu_s()
    for inst in io.INSTRUMENTS:
        table = pq.read_table(io.signal_path(root, split, planet, inst, 0))
        _ = [c.to_numpy() for c in table.columns]
    return _result(t, cpu)


def child_reader(root: Path) -> dict:
    from spectramind import io

    split, planet = _planet(root)
    t, cpu = time.perf_counter(), _cpu_s()
    for inst in io.INSTRUMENTS:
        io.read_signal(io.signal_path(root, split, planet, inst, 0), inst)
    return _result(t, cpu)


def child_chain(root: Path) -> dict:
    from spectramind import io
    from spectramind.calibration import pipeline, products
    from spectramind.timing import timed

    split, planet = _planet(root)
    timings: dict[str, float] = {}
    cfg = pipeline.CalibrationConfig()
    t, cpu = time.perf_counter(), _cpu_s()
    with timed(timings, "open signals, read maps"):
        # the tree under test may predate open_visit (then it reads the signals whole)
        opener = getattr(products, "open_visit", products.read_visit)
        raw, maps = opener(root, split, planet, 0)
        adc = io.read_adc_info(root / "adc_info.csv")
        axis = io.read_axis_info(root / "axis_info.parquet")
    visit = pipeline.calibrate_visit(raw, maps, adc, axis, cfg, timings=timings)
    del raw
    with timed(timings, "phase"):
        star = io.read_star_info(root / f"{split}_star_info.csv").loc[planet]
        cube = pipeline.build_cube(
            planet, [visit], star, io.read_wavelengths(root / "wavelengths.csv"), cfg
        )
    with timed(timings, "write cube"), tempfile.TemporaryDirectory() as d:
        products.write_netcdf(cube, Path(d) / "cube.nc")
    return _result(t, cpu, stages=timings)


def run_child(mode: str, root: Path, src: Path | None) -> dict:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(root)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_workflow(root: Path, src: Path | None, work: Path) -> dict:
    """The planet's calibrate and phase jobs through Snakemake; figures of their benchmarks."""
    import pandas as pd

    split, planet = _planet(root)
    tree = REPO if src is None else src.parent
    wd = work / ("after" if src is None else "before")
    if not wd.exists():
        wd.mkdir(parents=True)
        for name in ("config", "schemas", "workflow", "resources"):
            (wd / name).symlink_to(tree / name)
        (wd / "cfg.yaml").write_text(f"data:\n  root: {root}\n  splits: [{split}]\n")
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    shutil.rmtree(wd / "results", ignore_errors=True)
    target = f"results/cubes/{planet}.nc"
    cmd = [
        str(Path(sys.executable).with_name("snakemake")),
        target,  # first: --configfile takes every value that follows it
        "-s",
        str(tree / "Snakefile"),
        "--cores",
        "1",
        "--configfile",
        "cfg.yaml",
    ]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=wd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} (in {wd}) failed:\n{done.stderr[-3000:]}")
    jobs = {}
    files = {r: wd / f"results/benchmarks/{r}/{planet}.tsv" for r in WORKFLOW_RULES}
    if not any(f.is_file() for f in files.values()):
        raise SystemExit(f"{wd}: no benchmark file of {WORKFLOW_RULES} for planet {planet}")
    for rule, path in files.items():
        if not path.is_file():
            continue
        bench = pd.read_csv(path, sep="\t")
        jobs[rule] = {
            "s": float(bench["s"].iloc[0]),
            "cpu": float(pd.to_numeric(bench["cpu_time"], errors="coerce").iloc[0]),
            "rss": float(bench["max_rss"].iloc[0]),
        }
    return {"snakemake": wall, "jobs": jobs}


def project(jobs: dict[str, float], planet: int, planets: int, cores: int) -> float:
    """Projected hours of the calibrate + phase rules from their wall time per planet."""
    import pandas as pd

    from spectramind import budget

    bench = pd.DataFrame(
        [
            {"rule": r, "key": str(planet), "s": s, "max_rss_mb": 0.0, "cpu_s": 0.0}
            for r, s in jobs.items()
        ]
    )
    return budget.total_hours(budget.project(bench, n_planets=planets, cores=cores))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="challenge-layout root with one full-size planet")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--before", type=Path, help="src/ folder of another tree to compare")
    p.add_argument("--workflow", action="store_true", help="also run the planet's jobs")
    p.add_argument("--planets", type=int, default=1100, help="planets of the projection")
    p.add_argument("--cores", type=int, default=4, help="cores of the projection")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        mode, root = a.child[0], Path(a.child[1])
        res = {"floor": child_floor, "reader": child_reader, "chain": child_chain}[mode](root)
        print(json.dumps(res))
        return 0

    tmp = tempfile.TemporaryDirectory()
    root = a.data
    if root is None:
        root = Path(tmp.name) / "data"
        print("simulating one full-size planet ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "spectramind.cli", "simulate", str(root), "--n-train", "1"]
            + ["--n-test", "0", "--seed", "7", "--second-visit-fraction", "0", "--time-scale", "1"],
            check=True,
        )
    root = root.resolve()
    trees: dict[str, Path | None] = {"after": None}
    if a.before is not None:
        trees = {"before": a.before.resolve(), **trees}
    for src in trees.values():  # numba compiles (and caches) once per environment: untimed
        run_child("chain", root, src)
    runs: dict[str, list[dict]] = {"floor": [], "reader": []}
    runs.update({f"chain {k}": [] for k in trees})
    if a.workflow:
        runs.update({f"workflow {k}": [] for k in trees})
    loads = []
    for _ in range(a.repeat):
        loads.append(os.getloadavg()[0])
        runs["floor"].append(run_child("floor", root, None))
        runs["reader"].append(run_child("reader", root, None))
        for k, src in trees.items():
            runs[f"chain {k}"].append(run_child("chain", root, src))
            if a.workflow:
                runs[f"workflow {k}"].append(run_workflow(root, src, Path(tmp.name)))
    loads.append(os.getloadavg()[0])

    med = statistics.median
    from spectramind import io

    split, planet = _planet(root)
    mb = sum(io.signal_path(root, split, planet, i, 0).stat().st_size for i in io.INSTRUMENTS)
    floor = med(r["wall"] for r in runs["floor"])
    floor_cpu = med(r["cpu"] for r in runs["floor"])
    print(
        f"planet {planet}: signal parquets {mb / 1e6:.0f} MB; medians of {a.repeat} fresh "
        f"processes; load average (1 min) {min(loads):.1f} .. {max(loads):.1f} during the run"
    )
    head = ("wall s", "x floor", "CPU s", "x floor", "peak RSS GB")
    print(f"{'':46s}" + "".join(f"{h:>9s}" for h in head[:4]) + f"{head[4]:>13s}")

    def row(name: str, rs: list[dict]) -> tuple[float, float]:
        wall, cpu = med(r["wall"] for r in rs), med(r["cpu"] for r in rs)
        rss = max(r["rss"] for r in rs)
        print(
            f"{name:46s}{wall:9.2f}{wall / floor:9.2f}{cpu:9.2f}{cpu / floor_cpu:9.2f}{rss:13.2f}"
        )
        return wall, rss

    row("floor: pyarrow read_table + to_numpy", runs["floor"])
    row("reader: spectramind.io.read_signal", runs["reader"])
    ok = True
    for k in trees:
        chains = runs[f"chain {k}"]
        wall, rss = row(f"chain ({k}): files -> cube, in-process", chains)
        for s in chains[0]["stages"]:
            print(f"    {s:42s}{med(c['stages'].get(s, 0.0) for c in chains):9.2f}")
        if k == "after":
            ok &= wall / floor <= GOAL_CHAIN and rss <= GOAL_RSS_GB
    for k in trees if a.workflow else ():
        wf = runs[f"workflow {k}"]
        rules = list(wf[0]["jobs"])
        per_run = [
            {
                "wall": sum(w["jobs"][r]["s"] for r in rules),
                "cpu": sum(w["jobs"][r]["cpu"] for r in rules),
                "rss": max(w["jobs"][r]["rss"] for r in rules) / 1e3,
            }
            for w in wf
        ]
        wall, rss = row(f"workflow ({k}): {' + '.join(rules)} jobs", per_run)
        jobs = {r: med(w["jobs"][r]["s"] for w in wf) for r in rules}
        for r, s in jobs.items():
            cpu = med(w["jobs"][r]["cpu"] for w in wf)
            print(f"    job {r:38s}{s:9.2f}{'':9s}{cpu:9.2f}")
        print(f"    snakemake (parse + jobs){med(w['snakemake'] for w in wf):21.2f}")
        for what, t in (
            ("wall", jobs),
            ("CPU", {r: med(w["jobs"][r]["cpu"] for w in wf) for r in jobs}),
        ):
            hours = project(t, planet, a.planets, a.cores)
            print(
                f"    projection from the {what} s: {a.planets} planets on {a.cores} cores: {hours:.2f} h"
            )
        if k == "after":
            ok &= wall / floor <= GOAL_WORKFLOW and rss <= GOAL_RSS_GB
    print(
        f"goals: chain <= {GOAL_CHAIN} x floor, workflow jobs <= {GOAL_WORKFLOW} x floor, "
        f"peak RSS <= {GOAL_RSS_GB} GB: {'met' if ok else 'NOT met'}"
    )
    tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
