"""Realism benchmark: a full-size simulation of real star 342072318 (its real calibration
maps) against the real first 50 raw frames of that planet, for CDS frame pairs.

Prints a table (real, simulated, relative difference) and the time and peak memory of the
full-size simulation of that planet. Run: ``.venv/bin/python benchmarks/bench_realism.py``
(one core: prefix ``taskset -c 0``). The time is printed as wall and CPU seconds with the
load average: on a shared machine the CPU time is the figure that compares.
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np
import pyarrow.parquet as pq
from astropy.stats import sigma_clipped_stats

from spectramind import io, sim

TOLERANCE = 0.25  # the realism goal: each simulated figure within 25 % of the real one
COLUMNS = (39, 100, 180, 250, 320)
N_PAIRS_STD = 200  # simulated pairs used for means/stds: the first 0.27 h, before any transit


def cds_stats(frames: np.ndarray, gain: float, offset: float, n_pairs: int) -> dict[str, float]:
    d = frames[: 2 * n_pairs].astype(np.float64) / gain + offset
    return _stats(d)


def frame_to_frame_std(series: np.ndarray) -> float:
    """Point-to-point scatter: the 4-sigma-clipped std of successive differences / sqrt(2).

    Blind to slow trends (gain drift, transit) that inflate a plain std over a longer
    window, and to the rare cosmic-ray hit (one ~3000-count hit in 200 pairs would double
    a column's std); as efficient as a plain std on clean data (a MAD is not: with the 24
    real differences it would scatter by ~20 %).
    """
    return float(sigma_clipped_stats(np.diff(series), sigma=4.0, maxiters=5)[2] / np.sqrt(2.0))


def _stats(d: np.ndarray) -> dict[str, float]:
    cds = d[1::2] - d[0::2]
    out: dict[str, float] = {}
    if d.shape[2] == 356:
        for c in COLUMNS:
            s = cds[:, 8:24, c].sum(axis=1)
            out[f"AIRS col {c} mean"] = s.mean()
            out[f"AIRS col {c} std"] = frame_to_frame_std(s)
        out["AIRS edge rows 0:4 background / px"] = cds[:, 0:4, :].mean()
        out["AIRS median decoded start read"] = float(np.median(d[0::2]))
    else:
        tot = cds.sum(axis=(1, 2))
        out["FGS1 total mean"] = tot.mean()
        out["FGS1 total std"] = frame_to_frame_std(tot)
        out["FGS1 median decoded start read"] = float(np.median(d[0::2]))
    return out


def main() -> int:
    res = sim.RESOURCES / "2025"
    adc = io.read_adc_info(res / "adc_info.csv")
    real = {}
    for inst, shape in (("AIRS-CH0", (50, 32, 356)), ("FGS1", (50, 32, 32))):
        name = f"{inst}_signal_0__first50frames_flattened.parquet"
        raw = pq.read_table(res / "excerpts" / name).column(0).to_numpy().reshape(shape)
        real.update(cds_stats(raw, *adc[inst], 25))
    star = io.read_star_info(res / "train_star_info.csv").loc[342072318]
    maps = {
        i: io.read_calibration(sim.default_calibration_dir() / f"{i}_calibration_0", i)
        for i in io.INSTRUMENTS
    }
    axis = io.read_axis_info(res / "axis_info.parquet")
    wl = io.read_wavelengths(res / "wavelengths.csv")
    spectrum = np.full(283, 0.0147)
    t, cpu = time.perf_counter(), time.process_time()
    frames, truth = sim.simulate_visit(
        star=star,
        spectrum=spectrum,
        maps=maps,
        axis=axis,
        adc=adc,
        seed=(0, 342072318, 0),
        time_scale=1,
        wavelengths=wl,
        brightness=1.0,
    )
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    simulated = {}
    for inst in io.INSTRUMENTS:
        simulated.update(cds_stats(frames[inst], *adc[inst], N_PAIRS_STD))
    print(f"{'figure':40s} {'real':>12s} {'simulated':>12s} {'rel.diff':>9s}")
    ok = True
    for key, r in real.items():
        s = simulated[key]
        rel = (s - r) / abs(r)
        ok &= abs(rel) <= TOLERANCE
        print(
            f"{key:40s} {r:12.1f} {s:12.1f} {rel:+9.1%}{'' if abs(rel) <= TOLERANCE else '  <-- outside 25 %'}"
        )
    print(
        f"frames: AIRS {frames['AIRS-CH0'].shape}, FGS1 {frames['FGS1'].shape}; t0 {truth.t0_h:.2f} h"
    )
    print(
        f"full-size simulation of one planet (one visit, in memory): {elapsed:.1f} s wall, "
        f"{cpu:.1f} s CPU, peak RSS {peak_gb:.2f} GB; load average {os.getloadavg()}"
    )
    print("all figures within 25 %" if ok else "SOME FIGURES OUTSIDE 25 %")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
