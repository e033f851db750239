"""CPU benchmark of the per-planet physics fit: white-light step and spectral step.

Cubes: the exact-model synthetic cubes of ``tests/test_fit.py`` (225 time bins x 283
wavelengths per visit, chromatic degree-5 drift of amplitude 1e-2, 200 ppm AIRS / 50 ppm
FGS1 white noise, random jitter regressors), with 1 and 2 visits. Each row is the median
(and min-max) over ``--repeats`` cubes of different noise seeds; a different seed per run
so that the optimiser's path (number of function evaluations) is sampled too.

Run: ``python benchmarks/bench_fit.py [--repeats N] [--threads T]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

import torch

from spectramind.physics.common import FitConfig
from spectramind.physics.spectral import fit_spectrum
from spectramind.physics.whitelight import fit_white

REPO = Path(__file__).resolve().parents[1]


def load_factory():
    """``synthetic_cube`` of tests/test_fit.py (one definition of the benchmark cube)."""
    spec = importlib.util.spec_from_file_location("_test_fit", REPO / "tests" / "test_fit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_cube


def time_planet(cube, star, cfg: FitConfig) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    white = fit_white(cube, star, cfg, cfg.broad_prior())
    t1 = time.perf_counter()
    fit_spectrum(cube, star, white, cfg)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, "ok" if white.success else "white-light fit did not converge"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--repeats", type=int, default=3, help="cubes (seeds) per row; the median is printed"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (numpy BLAS: set OPENBLAS_NUM_THREADS)",
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    synthetic_cube = load_factory()
    cfg = FitConfig()
    synthetic_cube(seed=0)  # warm-up: imports, torch thread pool
    print(f"torch threads: {torch.get_num_threads()}, repeats: {args.repeats}")
    print(f"{'visits':>6}  {'white-light s':>22}  {'spectrum s':>22}  {'total s':>8}  notes")
    for n_visits in (1, 2):
        t0 = (3.75,) if n_visits == 1 else (3.6, 3.9)
        rows = []
        for seed in range(args.repeats):
            syn = synthetic_cube(seed=100 + seed, n_visits=n_visits, t0_h=t0)
            rows.append(time_planet(syn.cube, syn.star, cfg))
        white = [r[0] for r in rows]
        spec = [r[1] for r in rows]
        notes = sorted({r[2] for r in rows} - {"ok"})

        def cell(xs: list[float]) -> str:
            return f"{statistics.median(xs):6.2f} ({min(xs):.2f}-{max(xs):.2f})"

        total = statistics.median([a + b for a, b in zip(white, spec, strict=True)])
        print(
            f"{n_visits:>6}  {cell(white):>22}  {cell(spec):>22}  {total:8.2f}  {'; '.join(notes)}"
        )


if __name__ == "__main__":
    main()
