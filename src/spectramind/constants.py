"""Every layout, timing and metric constant of the Ariel Data Challenge 2025, defined once.

These are facts of the challenge data and its scorer (``../shared/DESIGN.md``: the data facts
and the metric), not assumptions of a model: the rest of the package imports them from here.
Nothing here describes how the simulated data are made.
"""

from __future__ import annotations

__all__ = [
    "AIRS_FIRST_COLUMN",
    "AIRS_STOP_COLUMN",
    "FGS_WEIGHT",
    "METHODS",
    "N_AIRS_BINS",
    "N_BINS",
    "PPM",
    "SIGMA_FLOOR",
    "SIGMA_TRUE_AIRS",
    "SIGMA_TRUE_FGS",
    "VISIT_HOURS",
]

# --- layout ---------------------------------------------------------------------------------
#: Number of spectral bins of a submission: 1 FGS1 white-light bin (``wl_1``) + 282 AIRS-CH0
#: bins (``wl_2..wl_283``).
N_BINS = 283
#: AIRS-CH0 detector columns holding the 282 spectral bins, ``[first, stop)``; detector column
#: ``c`` is target bin ``wl_(2 + 320 - c)`` (the columns are flipped into target order).
AIRS_FIRST_COLUMN, AIRS_STOP_COLUMN = 39, 321
#: Number of AIRS-CH0 spectral bins.
N_AIRS_BINS = AIRS_STOP_COLUMN - AIRS_FIRST_COLUMN

# --- workflow -------------------------------------------------------------------------------
#: The prediction methods, in the order of the score table (``results/predictions/{method}/``).
METHODS = ("constant", "physics", "model")

# --- timing ---------------------------------------------------------------------------------
#: Duration of one visit (hours): the span of the real ``axis_info.parquet`` time axes.
VISIT_HOURS = 7.5

# --- the challenge metric -------------------------------------------------------------------
#: Weight of every bin-0 (FGS1) element relative to one AIRS element.
FGS_WEIGHT = 57.846
#: Reference ("true") uncertainty of the FGS1 bin (bin 0).
SIGMA_TRUE_FGS = 1e-6
#: Reference ("true") uncertainty of the AIRS bins (1..282).
SIGMA_TRUE_AIRS = 1e-5
#: Predicted sigmas are clipped below at this value before scoring.
SIGMA_FLOOR = 1e-15
#: Conversion factor from fractional transit depth to parts per million.
PPM = 1e6
