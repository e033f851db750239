"""What a simulated dataset holds (planets, splits, visits) and how its world deviates.

Light on purpose: the workflow imports :func:`plan_dataset` when it parses the Snakefile, so
this module needs numpy and pandas only (no batman, torch, numba or xarray).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spectramind import io
from spectramind.defaults import schema_defaults

RESOURCES = Path(__file__).resolve().parents[3] / "resources" / "ariel"


def default_calibration_dir() -> Path:
    return RESOURCES / "2025" / "calibration"


def default_stars_path() -> Path:
    return RESOURCES / "2025" / "train_star_info.csv"


@dataclass(frozen=True)
@schema_defaults("simulation.world")
class World:
    """How the simulated world departs from what the star rows and a pipeline assume.

    Every field is a realistic magnitude (``config/config.yaml`` ``simulation.world`` says
    why each value; the defaults are the config schema's); 0 (or False) switches that
    deviation off.
    """

    #: relative rms scatter of the true a/Rs around the star row's ``sma``
    a_rs_scatter: float
    #: rms scatter (deg) of the true inclination around the star row's ``i``
    inclination_scatter_deg: float
    #: rms clock offset (s) of AIRS-CH0 relative to FGS1, drawn per visit
    timing_offset_s: float
    #: lowest and highest time order of each instrument's gain drift, drawn per visit
    drift_order_min: int
    drift_order_max: int
    #: draw the AIRS and FGS1 gain drifts independently (False: one shared time polynomial)
    drift_per_instrument: bool
    #: amplitude (relative) of the exposure-start ramp 1 - A exp(-t / tau), drawn up to 2x
    ramp_amplitude: float
    #: rms (ppm at 1 um) of the stellar granulation red noise, common to both instruments
    granulation_ppm: float
    #: rms relative change of the PSF/trace width (breathing), correlated with the pointing
    psf_breathing: float
    #: bad-pixel pool: the real maps plus variants up to these hot / dead fractions
    hot_fraction_max: float
    dead_fraction_max: float
    #: number of calibration-map sets in the pool (the real one included); 1 = real maps only
    map_pool_size: int
    #: mean cosmic-ray track length (pixels beyond the first); 0 = single-pixel hits
    cosmic_track_px: float
    #: rms change of the unocculted spot filling factor between visits (depth and shape change)
    visit_spot_change: float
    #: fraction of the spectrum's features from a partitioned real 2024 shape (rest parametric)
    real_shape_weight: float

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> World:
        """A World from a config mapping (missing keys keep their default)."""
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown simulation.world keys: {', '.join(unknown)}")
        world = cls(**values)
        world.validate()
        return world

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, bool) and v < 0:
                raise ValueError(f"simulation.world.{f.name} must be >= 0, got {v}")
        if not 0 < self.drift_order_min <= self.drift_order_max:
            raise ValueError(
                "simulation.world.drift_order_min must be in [1, drift_order_max], got "
                f"{self.drift_order_min}, {self.drift_order_max}"
            )
        if self.map_pool_size < 1:
            raise ValueError(
                f"simulation.world.map_pool_size must be >= 1, got {self.map_pool_size}"
            )
        if self.real_shape_weight > 1:
            raise ValueError(
                f"simulation.world.real_shape_weight must be in [0, 1], got {self.real_shape_weight}"
            )

    def without(self, name: str) -> World:
        """This world with deviation ``name`` switched off (see :data:`DEVIATIONS`)."""
        return dataclasses.replace(self, **DEVIATIONS[name])


#: each deviation of the default world and the field values that switch it off
DEVIATIONS: dict[str, dict[str, Any]] = {
    "geometry": {"a_rs_scatter": 0.0, "inclination_scatter_deg": 0.0},
    "timing_offset": {"timing_offset_s": 0.0},
    "drift": {"drift_order_min": 5, "drift_order_max": 5, "drift_per_instrument": False},
    "ramp": {"ramp_amplitude": 0.0},
    "granulation": {"granulation_ppm": 0.0},
    "breathing": {"psf_breathing": 0.0},
    "maps": {"map_pool_size": 1},
    "cosmic_tracks": {"cosmic_track_px": 0.0},
    "visit_change": {"visit_spot_change": 0.0},
    "spectra": {"real_shape_weight": 1.0},
}


@dataclass(frozen=True)
class PlannedPlanet:
    planet_id: int
    split: str
    n_visits: int


def plan_dataset(
    *,
    n_train: int,
    n_test: int,
    seed: int,
    stars: str | Path | None = None,
    second_visit_fraction: float = 0.1,
) -> list[PlannedPlanet]:
    """Which planets (ids from the star rows), splits and visit counts a dataset will have.

    Cheap and deterministic: the workflow calls it at parse time to know the simulated
    planets before they exist. Default stars: a random sample of the 900 real train rows.
    """
    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ValueError(f"need n_train + n_test > 0, got {n_train}, {n_test}")
    if not 0 <= second_visit_fraction <= 1:
        raise ValueError(f"second_visit_fraction must be in [0, 1], got {second_visit_fraction}")
    rng = np.random.default_rng(seed)
    stars_path = Path(stars) if stars else default_stars_path()
    star_df = io.read_star_info(stars_path)
    n_total = n_train + n_test
    if len(star_df) < n_total:
        raise io.DataError(stars_path, f"{len(star_df)} star rows, need {n_total}")
    ids = star_df.index.to_numpy()
    chosen = (
        ids[np.sort(rng.choice(len(ids), n_total, replace=False))] if not stars else ids[:n_total]
    )
    n_two = max(1, int(round(second_visit_fraction * n_total))) if second_visit_fraction > 0 else 0
    two = set(rng.choice(chosen, min(n_two, n_total), replace=False).tolist())
    return [
        PlannedPlanet(int(pid), "train" if j < n_train else "test", 2 if pid in two else 1)
        for j, pid in enumerate(chosen)
    ]
