"""CF-1.10 metadata of the NetCDF products (cubes, series, physics fits).

Pure helpers, no I/O: the global attributes every product carries, the star parameters with
their units, wavelength bin bounds computed from the bin centres, and ``sigma`` beside a
``variance``. Every ``units`` string written here parses with :mod:`astropy.units`
(``tests/test_conventions.py`` checks each product).

No wall-clock time goes into ``history``: two runs of the same config must write
byte-identical products (``tests/test_determinism.py``); the line names the software version
and the config digest instead, which identify the run.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from spectramind import __version__

__all__ = [
    "CONVENTIONS",
    "GAP_FACTOR",
    "STAR_PARAMETERS",
    "bin_bounds",
    "global_attributes",
    "star_attributes",
    "with_sigma",
]

CONVENTIONS = "CF-1.10"
INSTITUTION = "SpectraMind V50 pipeline"
REFERENCES = (
    "NeurIPS 2025 Ariel Data Challenge, https://www.kaggle.com/competitions/"
    "ariel-data-challenge-2025; CF conventions 1.10, https://cfconventions.org"
)
#: star_info.csv columns: (units, long name). ``sma`` is the semi-major axis in stellar radii
#: (the transit geometry of :func:`spectramind.calibration.phase.transit_durations` uses it as
#: a/Rs), ``Mp`` the planet mass in Jupiter masses.
STAR_PARAMETERS: dict[str, tuple[str, str]] = {
    "Rs": ("solRad", "stellar radius"),
    "Ms": ("solMass", "stellar mass"),
    "Ts": ("K", "stellar effective temperature"),
    "Mp": ("jupiterMass", "planet mass"),
    "e": ("1", "orbital eccentricity"),
    "P": ("d", "orbital period"),
    "sma": ("1", "semi-major axis in stellar radii (a / Rs)"),
    "i": ("deg", "orbital inclination"),
}
#: A step between neighbouring bin centres larger than this many times the median step starts
#: a new segment (the FGS1 photometric bin wl_1 lies far below the AIRS-CH0 bins).
GAP_FACTOR = 10.0


def global_attributes(*, title: str, history: str, comment: str = "") -> dict[str, str]:
    """The CF / ACDD global attributes of a product: ``Conventions``, ``title``,
    ``institution``, ``source`` (software and version), ``history`` (one line: what made the
    file), ``references`` and ``comment`` when given."""
    attrs = {
        "Conventions": CONVENTIONS,
        "title": title,
        "institution": INSTITUTION,
        "source": f"spectramind {__version__}",
        "history": f"spectramind {__version__}: {history}",
        "references": REFERENCES,
    }
    if comment:
        attrs["comment"] = comment
    return attrs


def star_attributes(star: Mapping[str, float]) -> dict[str, float | str]:
    """``star_<key>`` (float) with ``star_<key>_units`` and ``star_<key>_long_name`` for every
    key of :data:`STAR_PARAMETERS` in ``star`` (a star_info row; ``planet_id`` is skipped).

    Raises ValueError for a key without known units: a product never carries a unitless number
    that has a unit.
    """
    out: dict[str, float | str] = {}
    for k, v in star.items():
        if k == "planet_id":
            continue
        if k not in STAR_PARAMETERS:
            raise ValueError(f"star parameter {k!r} has no units (known: {list(STAR_PARAMETERS)})")
        units, name = STAR_PARAMETERS[k]
        out[f"star_{k}"] = float(v)
        out[f"star_{k}_units"] = units
        out[f"star_{k}_long_name"] = name
    return out


def bin_bounds(centres: np.ndarray, gap_factor: float = GAP_FACTOR) -> np.ndarray:
    """Bin edges ``(n, 2)`` from monotonic bin centres ``(n,)``.

    Inside a segment of contiguous bins the edge between two bins is the midpoint of their
    centres and the outer edges mirror the first and last inner half-widths. A step larger
    than ``gap_factor`` times the median step separates two segments. A segment of one bin
    (no neighbour to bound it) gets zero width, ``[c, c]``. Raises ValueError for centres
    that are not finite or repeat a value.
    """
    c = np.asarray(centres, dtype=float)
    if c.ndim != 1 or c.size == 0 or not np.isfinite(c).all():
        raise ValueError("bin centres must be a non-empty 1-d array of finite values")
    out = np.column_stack([c, c])
    if c.size == 1:
        return out
    step = np.abs(np.diff(c))
    if np.any(step == 0):
        raise ValueError("bin centres repeat a value")
    breaks = np.flatnonzero(step > gap_factor * np.median(step)) + 1
    for seg in np.split(np.arange(c.size), breaks):
        if seg.size < 2:
            continue
        x = c[seg]
        mid = 0.5 * (x[1:] + x[:-1])
        lo = np.concatenate([[x[0] - (mid[0] - x[0])], mid])
        hi = np.concatenate([mid, [x[-1] + (x[-1] - mid[-1])]])
        out[seg, 0], out[seg, 1] = lo, hi
    return out


def with_sigma(ds: xr.Dataset, variance: str, sigma: str, *, of: str) -> xr.Dataset:
    """A copy of ``ds`` with ``sigma = sqrt(variance)`` beside ``variance`` (same units as the
    variable ``of``), and ``of``'s ``ancillary_variables`` naming both."""
    var = ds[variance]
    units = ds[of].attrs.get("units", "1")
    out = ds.assign(
        {
            sigma: (
                var.dims,
                np.sqrt(var.values),
                {"units": units, "long_name": f"1-sigma uncertainty of {of}"},
            )
        }
    )
    anc = out[of].attrs.get("ancillary_variables", "").split()
    out[of].attrs["ancillary_variables"] = " ".join(
        [*anc, *(n for n in (sigma, variance) if n not in anc)]
    )
    return out
