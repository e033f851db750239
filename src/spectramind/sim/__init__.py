"""An independent simulated world of Ariel Data Challenge 2025 raw data, in the challenge layout.

Nothing here comes from the pipeline (``spectramind.physics``, ``.calibration``, ``.model``;
``tests/test_sim_independence.py`` enforces it):

- :mod:`.plan` which planets, splits and visits; :class:`World`, the deviations from what the
  star rows and a pipeline assume (light: the workflow imports it at parse time);
- :mod:`.limb` limb darkening from a grey model atmosphere (non-linear 4-parameter law);
- :mod:`.scene` orbit, transit (``batman``), granulation, unocculted spots;
- :mod:`.spectra` true spectra: partitioned real 2024 shapes + a parametric atmosphere;
- :mod:`.detector` PSF/trace, jitter and breathing, drift, ramp, bad-pixel maps, cosmic-ray
  tracks, noise, non-linearity, ADC;
- :mod:`.visit` one visit's raw frames; :mod:`.dataset` a whole dataset on disk.

Only :mod:`.plan` is imported eagerly; every other name loads its module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from spectramind.sim.plan import (
    DEVIATIONS,
    RESOURCES,
    PlannedPlanet,
    World,
    default_calibration_dir,
    plan_dataset,
)

_LAZY = {
    "simulate_dataset": "dataset",
    "subsampled_axis": "dataset",
    "map_pool": "dataset",
    "planet_spectra": "dataset",
    "simulate_visit": "visit",
    "VisitTruth": "visit",
    "truth_light_curves": "visit",
    "column_depths": "visit",
    "pair_times": "visit",
    "exposure_matched_brightness": "visit",
    "light_curves": "scene",
    "Geometry": "scene",
    "planck_photons": "scene",
    "scale_height_rs": "scene",
    "draw_spectrum": "spectra",
    "DEPTH_MEAN": "spectra",
    "DEPTH_STD": "spectra",
    "DEPTH_RANGE": "spectra",
    "pixel_gaussian": "detector",
    "fgs_psf": "detector",
    "airs_trace_profile": "detector",
    "pointing_jitter": "detector",
    "random_polynomial": "detector",
    "polyval_pixels": "detector",
    "invert_linearity": "detector",
    "adc_encode": "detector",
    "cosmic_rays": "detector",
    "map_variant": "detector",
    "AIRS_DT": "detector",
    "FGS_DT": "detector",
    "AIRS_BACKGROUND": "detector",
    "FGS_BACKGROUND": "detector",
    "RESET_OFFSET": "detector",
}

__all__ = [
    "DEVIATIONS",
    "RESOURCES",
    "PlannedPlanet",
    "World",
    "default_calibration_dir",
    "plan_dataset",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"spectramind.sim.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'spectramind.sim' has no attribute {name!r}")
