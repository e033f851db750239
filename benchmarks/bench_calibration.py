"""Calibration speed and memory on one full-size planet, against the time to read its files.

Measured side by side in one run, each repetition in a fresh process (so peak RSS is the
process's own): (a) reading the two signal parquets into numpy with ``spectramind.io``
(and, for reference, with ``pandas.read_parquet(...).to_numpy()``), (b) the whole chain
from the files to the cube (read, pixel stages, photometry, trace, phase, NetCDF write),
with the time of each stage. Goal: (b) <= 2 x (a), peak RSS <= 3 GB.

Run: ``.venv/bin/python benchmarks/bench_calibration.py [--data ROOT] [--repeat 3]``.
Without ``--data`` one full-size planet is simulated first (about a minute).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_RATIO, GOAL_RSS_GB = 2.0, 3.0


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def child_read(root: Path, planet: int, how: str) -> dict:
    import numpy as np
    import pandas as pd

    from spectramind import io

    t = time.perf_counter()
    arrays = []
    for inst in io.INSTRUMENTS:
        path = io.signal_path(root, "train", planet, inst, 0)
        arrays.append(
            io.read_signal(path, inst)
            if how == "io"
            else np.asarray(pd.read_parquet(path).to_numpy())
        )
    return {"wall": time.perf_counter() - t, "rss": _peak_rss_gb()}


def child_chain(root: Path, planet: int) -> dict:
    from spectramind import io
    from spectramind.calibration import pipeline, products
    from spectramind.timing import timed

    timings: dict[str, float] = {}
    cfg = pipeline.CalibrationConfig()
    t = time.perf_counter()
    with timed(timings, "read signals + maps"):
        raw, maps = products.read_visit(root, "train", planet, 0)
        adc = io.read_adc_info(root / "adc_info.csv")
        axis = io.read_axis_info(root / "axis_info.parquet")
    visit = pipeline.calibrate_visit(raw, maps, adc, axis, cfg, timings=timings)
    del raw
    with timed(timings, "phase"):
        star = io.read_star_info(root / "train_star_info.csv").loc[planet]
        cube = pipeline.build_cube(
            planet, [visit], star, io.read_wavelengths(root / "wavelengths.csv"), cfg
        )
    with timed(timings, "write cube"), tempfile.TemporaryDirectory() as d:
        products.write_netcdf(cube, Path(d) / "cube.nc")
    return {"wall": time.perf_counter() - t, "rss": _peak_rss_gb(), "stages": timings}


def run_child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm_up_jit() -> None:
    """Compile/load the numba kernels once so no repetition pays for it."""
    import numpy as np

    from spectramind.calibration import fast

    z = np.zeros((2, 1, 1))
    fast.pixel_chain(
        np.zeros((4, 1, 1), np.uint16),
        gain=1.0,
        offset=0.0,
        coeffs=None,
        dark=z[0],
        dt=(0.1, 0.2),
        flat_safe=np.ones((1, 1)),
        read=z[0],
        static_mask=np.zeros((1, 1), bool),
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", type=Path, help="challenge-layout root with one full-size train planet"
    )
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        mode, root, planet = a.child[0], Path(a.child[1]), int(a.child[2])
        res = child_chain(root, planet) if mode == "chain" else child_read(root, planet, mode)
        print(json.dumps(res))
        return 0

    from spectramind import io

    tmp = None
    root = a.data
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
        print("simulating one full-size planet ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "spectramind.cli",
                "simulate",
                str(root),
                "--n-train",
                "1",
                "--n-test",
                "0",
                "--seed",
                "7",
                "--second-visit-fraction",
                "0",
            ],
            check=True,
        )
    planet = io.list_planets(root, "train")[0]
    warm_up_jit()
    reads, pandas_reads, chains = [], [], []
    for _ in range(a.repeat):  # interleaved: machine noise hits all three alike
        reads.append(run_child(["io", str(root), str(planet)]))
        pandas_reads.append(run_child(["pandas", str(root), str(planet)]))
        chains.append(run_child(["chain", str(root), str(planet)]))
    med = statistics.median
    t_read, t_pd, t_chain = (med(r["wall"] for r in rs) for rs in (reads, pandas_reads, chains))
    sizes = (
        sum(io.signal_path(root, "train", planet, i, 0).stat().st_size for i in io.INSTRUMENTS)
        / 1e6
    )
    print(f"planet {planet}: signal parquets {sizes:.0f} MB; medians of {a.repeat} fresh processes")
    print(
        f"  read both signals into numpy (spectramind.io)   {t_read:6.2f} s   peak RSS {max(r['rss'] for r in reads):.2f} GB"
    )
    print(f"  read both signals (pandas.read_parquet, ref.)    {t_pd:6.2f} s")
    print(
        f"  whole chain: files -> cube                       {t_chain:6.2f} s   peak RSS {max(r['rss'] for r in chains):.2f} GB"
    )
    stages = chains[0]["stages"].keys()
    for s in stages:
        print(f"      {s:40s} {med(c['stages'][s] for c in chains):6.2f} s")
    ratio = t_chain / t_read
    rss = max(r["rss"] for r in chains)
    print(
        f"  chain / read = {ratio:.2f} (goal <= {GOAL_RATIO}); peak RSS {rss:.2f} GB (goal <= {GOAL_RSS_GB})"
    )
    if tmp is not None:
        tmp.cleanup()
    return 0 if ratio <= GOAL_RATIO and rss <= GOAL_RSS_GB else 1


if __name__ == "__main__":
    sys.exit(main())
