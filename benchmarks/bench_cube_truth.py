"""Cubes against the simulation truth: white-light depth, contact times, wavelength axis.

For every cube of a finished run on simulated data (default: the default run's
``results/``), prints the white-light transit depth read off the cube (the physics
white-light fit of FGS1 and of the flux-weighted AIRS light curve) against the true depth
(FGS1: wl_1; AIRS: the flux-weighted mean of wl_2..wl_283), the difference in units of the
fit's noise sigma (white-noise error of the fit, scaled by the residual scatter, i.e. the
photon + read noise actually in the data), and the ingress/egress errors against the true
t0 +- T14/2. Exit code 1 if any |z| > 3, any contact is off by more than
``CONTACT_TOL_H``, or a wavelength axis differs from wavelengths.csv.

Run: ``.venv/bin/python benchmarks/bench_cube_truth.py [--results results]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from spectramind import io
from spectramind.calibration import phase
from spectramind.physics.common import FitConfig
from spectramind.physics.whitelight import fit_white

CONTACT_TOL_H = 0.1  # 6 minutes: three 2-minute time bins of the default cube
Z_MAX = 3.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=Path("results"))
    a = p.parse_args()
    root = a.results / "simulated"
    wl = io.read_wavelengths(root / "wavelengths.csv")
    truth_t0 = pd.read_csv(root / "sim_truth.csv")
    stars = pd.concat([io.read_star_info(root / f"{s}_star_info.csv") for s in ("train", "test")])
    labels = pd.concat(
        [io.read_labels(root / "train.csv"), io.read_labels(root / "test_truth.csv")]
    )
    ok = True
    rows = []
    for path in sorted((a.results / "cubes").glob("*.nc")):
        with xr.open_dataset(path) as ds:
            cube = ds.load()
        pid = int(cube.attrs["planet_id"])
        ok &= bool(np.array_equal(cube["wavelength"].values, wl))
        star, y = stars.loc[pid], labels.loc[pid].to_numpy()
        w = np.nan_to_num(cube["oot_level"].values[0, 1:])
        true_airs = float(np.sum(w * y[1:]) / np.sum(w))
        cfg = FitConfig()
        white = fit_white(cube, star, cfg, cfg.broad_prior())
        t14, _ = phase.transit_durations(
            star["P"], star["sma"], star["i"], float(np.sqrt(true_airs))
        )
        for inst, true in (("FGS1", y[0]), ("AIRS-CH0", true_airs)):
            k, ke = white.k[inst], white.k_err[inst]
            z = (k**2 - true) / (2 * k * ke)
            ok &= abs(z) <= Z_MAX
            rows.append((pid, inst, true, k**2, 2 * k * ke, z))
        for v in range(cube.sizes["visit"]):
            t0 = truth_t0.query("planet_id == @pid and visit == @v")["t0_h"].item()
            di, de = (
                cube["ingress"].values[v] - (t0 - t14 / 2),
                cube["egress"].values[v] - (t0 + t14 / 2),
            )
            ok &= max(abs(di), abs(de)) <= CONTACT_TOL_H
            print(
                f"{pid} visit {v}: ingress error {di * 60:+6.1f} min, egress error {de * 60:+6.1f} min"
            )
    print(
        f"{'planet':>11s} {'inst':8s} {'true depth':>11s} {'cube depth':>11s} {'sigma':>8s} {'z':>6s}"
    )
    for pid, inst, true, est, sig, z in rows:
        print(f"{pid:11d} {inst:8s} {true:11.6f} {est:11.6f} {sig * 1e6:6.0f}pp {z:+6.2f}")
    print("wavelength coordinate == wavelengths.csv for every cube" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
