"""A whole simulated dataset written in the challenge layout (plus its truth files).

Determinism: the orbit and spectrum of a planet draw from ``SeedSequence([seed, planet_id,
1000])``, each visit from ``SeedSequence([seed, planet_id, visit])`` and the calibration-map
pool from ``SeedSequence([seed, 3000])``, so a planet's data do not depend on which other
planets are simulated.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from spectramind import io
from spectramind.sim import detector as det
from spectramind.sim import scene
from spectramind.sim import spectra as shapes
from spectramind.sim.plan import (
    RESOURCES,
    PlannedPlanet,
    World,
    default_calibration_dir,
    default_stars_path,
    plan_dataset,
)
from spectramind.sim.visit import VisitTruth, pair_times, simulate_visit


def subsampled_axis(axis: io.AxisInfo, time_scale: int) -> pd.DataFrame:
    """axis_info table (NaN-padded columns) for data simulated with ``time_scale``."""
    a_idx, f_idx = pair_times(axis.airs_time_h, time_scale), pair_times(axis.fgs_time_h, time_scale)
    cols = {
        "AIRS-CH0-axis0-h": axis.airs_time_h[a_idx],
        "AIRS-CH0-axis2-um": axis.airs_wavelength_um,
        "AIRS-CH0-integration_time": axis.airs_integration_s[a_idx],
        "FGS1-axis0-h": axis.fgs_time_h[f_idx],
    }
    n = max(len(v) for v in cols.values())
    return pd.DataFrame(
        {k: np.pad(v, (0, n - len(v)), constant_values=np.nan) for k, v in cols.items()}
    )


def map_pool(
    rng: np.random.Generator, maps: io.CalibrationMaps, world: World
) -> list[io.CalibrationMaps]:
    """The given (real) maps plus ``map_pool_size - 1`` variants with more bad pixels.

    Variant hot / dead fractions are uniform between the real maps' and the world's
    maxima; each variant gets 0-2 dead columns.
    """
    pool = [maps]
    hot0 = det.hot_fraction(maps.dark)
    dead0 = float(maps.dead.mean())
    for _ in range(world.map_pool_size - 1):
        hot = rng.uniform(min(hot0, world.hot_fraction_max), world.hot_fraction_max)
        dead = rng.uniform(min(dead0, world.dead_fraction_max), world.dead_fraction_max)
        cols = int(rng.integers(0, det.BAD_COLUMNS_MAX + 1))
        pool.append(det.map_variant(rng, maps, hot, dead, cols))
    return pool


def simulate_dataset(
    out: str | Path,
    *,
    n_train: int,
    n_test: int,
    seed: int,
    time_scale: int = 1,
    stars: str | Path | None = None,
    calibration: str | Path | None = None,
    second_visit_fraction: float = 0.1,
    world: World | None = None,
    spectra: str | Path | None = None,
    log: Callable[[str], object] = print,
) -> dict[int, list[VisitTruth]]:
    """Write a complete challenge-layout dataset to ``out``.

    Besides the challenge files it writes ``test_truth.csv`` (true spectra of the test
    split) and ``sim_truth.csv`` (orbit, clock offset, drift, spots and maps per visit).
    ``spectra`` (a labels csv) fixes the planets' spectra; ``calibration`` the base maps.
    """
    if time_scale < 1:
        raise ValueError(f"time_scale must be >= 1, got {time_scale}")
    world = World.from_mapping(None) if world is None else world
    world.validate()
    spectra_file = spectra
    plan = plan_dataset(
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        stars=stars,
        second_visit_fraction=second_visit_fraction,
    )
    out = Path(out)
    stars_path = Path(stars) if stars else default_stars_path()
    star_df = io.read_star_info(stars_path)
    cal_dir = Path(calibration) if calibration else default_calibration_dir()
    base = {i: io.read_calibration(cal_dir / f"{i}_calibration_0", i) for i in io.INSTRUMENTS}
    pool_rng = np.random.default_rng(np.random.SeedSequence([seed, 3000]))
    pools = {i: map_pool(pool_rng, base[i], world) for i in io.INSTRUMENTS}
    axis = io.read_axis_info(RESOURCES / "2025" / "axis_info.parquet")
    adc = io.read_adc_info(RESOURCES / "2025" / "adc_info.csv")
    wavelengths = io.read_wavelengths(RESOURCES / "2025" / "wavelengths.csv")
    given = io.read_labels(spectra_file) if spectra_file else None
    spectra_out, orbits = _planet_truths(
        plan, star_df, given, spectra_file, seed, world, wavelengths
    )

    out.mkdir(parents=True, exist_ok=True)
    truths: dict[int, list[VisitTruth]] = {}
    rows_truth = []
    for p in plan:
        truths[p.planet_id] = []
        for visit in range(p.n_visits):
            log(f"simulating {p.split}/{p.planet_id} visit {visit}")
            pick = np.random.default_rng(np.random.SeedSequence([seed, p.planet_id, visit, 2000]))
            chosen = {i: int(pick.integers(len(pools[i]))) for i in io.INSTRUMENTS}
            maps = {i: pools[i][chosen[i]] for i in io.INSTRUMENTS}
            frames, truth = simulate_visit(
                star=star_df.loc[p.planet_id],
                spectrum=spectra_out[p.planet_id],
                maps=maps,
                axis=axis,
                adc=adc,
                seed=(seed, p.planet_id, visit),
                time_scale=time_scale,
                wavelengths=wavelengths,
                world=world,
                orbit=orbits[p.planet_id],
                visit=visit,
            )
            truths[p.planet_id].append(truth)
            pdir = out / p.split / str(p.planet_id)
            for inst, fr in frames.items():
                io.write_signal(pdir / f"{inst}_signal_{visit}.parquet", fr)
                dst = pdir / f"{inst}_calibration_{visit}"
                if chosen[inst] == 0:
                    _copy_tree(cal_dir / f"{inst}_calibration_0", dst)
                else:
                    io.write_calibration(dst, maps[inst])
            rows_truth.append(_truth_row(p, visit, truth, chosen))
    _write_tables(out, plan, star_df, spectra_out, rows_truth)
    subsampled_axis(axis, time_scale).to_parquet(out / "axis_info.parquet", index=False)
    shutil.copyfile(RESOURCES / "2025" / "wavelengths.csv", out / "wavelengths.csv")
    shutil.copyfile(RESOURCES / "2025" / "adc_info.csv", out / "adc_info.csv")
    return truths


def planet_spectra(
    plan: list[PlannedPlanet], star_df: pd.DataFrame, seed: int, world: World, wl: np.ndarray
) -> dict[int, np.ndarray]:
    """The true spectrum (283,) of every planned planet (see :mod:`.spectra`)."""
    real = io.read_labels(RESOURCES / "2024" / "train_labels.csv").to_numpy()
    pools = shapes.partition_shapes(real)
    ref_rms, ref_depth = shapes.reference_statistics(real)
    h_median = float(
        np.median([scene.scale_height_rs(r, shapes.DEPTH_MEAN) for _, r in star_df.iterrows()])
    )
    out = {}
    for p in plan:
        rng = np.random.default_rng(np.random.SeedSequence([seed, p.planet_id, 1000]))
        out[p.planet_id] = shapes.draw_spectrum(
            rng,
            pools[p.split],
            star_df.loc[p.planet_id],
            h_median,
            wl,
            real_weight=world.real_shape_weight,
            ref_rms=ref_rms,
            ref_depth=ref_depth,
        )
    return out


def _planet_truths(
    plan: list[PlannedPlanet],
    star_df: pd.DataFrame,
    given: pd.DataFrame | None,
    spectra_file: str | Path | None,
    seed: int,
    world: World,
    wl: np.ndarray,
) -> tuple[dict[int, np.ndarray], dict[int, tuple[float, float]]]:
    orbits = {}
    for p in plan:
        rng = np.random.default_rng(np.random.SeedSequence([seed, p.planet_id, 4000]))
        orbits[p.planet_id] = scene.draw_orbit(rng, star_df.loc[p.planet_id], world)
    if given is None:
        return planet_spectra(plan, star_df, seed, world, wl), orbits
    out = {}
    for p in plan:
        if p.planet_id not in given.index:
            raise io.DataError(str(spectra_file), f"no spectrum for planet {p.planet_id}")
        out[p.planet_id] = given.loc[p.planet_id].to_numpy(dtype=float)
    return out, orbits


def _truth_row(p: PlannedPlanet, visit: int, tr: VisitTruth, chosen: dict[str, int]) -> dict:
    return {
        "planet_id": p.planet_id,
        "visit": visit,
        "t0_h": tr.t0_h,
        "a_rs": tr.a_rs,
        "inc_deg": tr.inc_deg,
        "airs_clock_offset_s": tr.timing_offset_s,
        "drift_amplitude": tr.drift_amplitude,
        "fgs_drift_amplitude": tr.fgs_drift_amplitude,
        "drift_order_airs": tr.drift_order_airs,
        "drift_order_fgs": tr.drift_order_fgs,
        "spot_filling": tr.spot_filling,
        "maps_airs": chosen["AIRS-CH0"],
        "maps_fgs": chosen["FGS1"],
    }


def _write_tables(
    out: Path,
    plan: list[PlannedPlanet],
    star_df: pd.DataFrame,
    spectra_out: dict[int, np.ndarray],
    rows_truth: list[dict],
) -> None:
    for split, label_file in (("train", "train.csv"), ("test", "test_truth.csv")):
        ids = [p.planet_id for p in plan if p.split == split]
        star_df.loc[ids].reset_index().to_csv(out / f"{split}_star_info.csv", index=False)
        labels = pd.DataFrame([spectra_out[i] for i in ids], columns=io.WL_COLUMNS)
        labels.insert(0, "planet_id", np.asarray(ids, dtype=np.int64))
        labels.to_csv(out / label_file, index=False)
    pd.DataFrame(rows_truth).to_csv(out / "sim_truth.csv", index=False)


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in io.CALIBRATION_MAPS:
        shutil.copyfile(src / f"{name}.parquet", dst / f"{name}.parquet")
