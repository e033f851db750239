"""Data-quality bitmask: named uint32 bits carried from the detector pixels to the cube.

One bit per cause, so dead, hot, saturated, cosmic-ray and bad-flat pixels stay distinct
downstream (a boolean mask could not tell them apart). The pixel products hold the bits of
each pixel; the per-pair series and the cube hold the bitwise OR of the bits of the pixels
(and pairs) that fed each value: a set bit there says "some input was flagged for this cause
and left out" (the extraction weights make up for it), not that the value is unusable. Only
``NO_VALID_DATA`` marks a value that is missing (NaN). Written with CF ``flag_masks`` /
``flag_meanings`` (:func:`cf_attributes`); ``docs/pipeline.md`` lists the bits.
"""

from __future__ import annotations

import numpy as np

DTYPE = np.uint32

DEAD = 1 << 0  #: dead pixel (``dead.parquet``)
HOT = 1 << 1  #: hot pixel (sigma-clipped dark current)
BAD_FLAT = 1 << 2  #: flat value non-finite or below ``calibration.flat_minimum``
SATURATED = 1 << 3  #: a read of the pair at the ends of the ADC range (0 or 65535 ADU)
COSMIC_RAY = 1 << 4  #: single-pair outlier flagged as a cosmic-ray hit
FILLED = 1 << 5  #: AIRS bin with no valid pixel at all, interpolated from its neighbours
NO_VALID_DATA = 1 << 6  #: cube value missing: no finite sample in the bin (flux is NaN)

#: bit -> name, in bit order (the CF ``flag_meanings``)
FLAGS: dict[int, str] = {
    DEAD: "dead",
    HOT: "hot",
    BAD_FLAT: "bad_flat",
    SATURATED: "saturated",
    COSMIC_RAY: "cosmic_ray",
    FILLED: "filled_from_neighbours",
    NO_VALID_DATA: "no_valid_data",
}
#: dtype of the per-pixel bits of the pixel products (flux/var/dq of every pair): only the
#: pixel bits (DEAD .. COSMIC_RAY) occur there, so one byte per pixel holds them (the series
#: and the cube use :data:`DTYPE`)
PIXEL_DTYPE = np.uint8
PIXEL_BITS = DEAD | HOT | BAD_FLAT | SATURATED | COSMIC_RAY
assert PIXEL_BITS <= np.iinfo(PIXEL_DTYPE).max

#: the bits of a pixel that are the same in every frame (from the calibration maps)
STATIC = DEAD | HOT | BAD_FLAT


def static_dq(dead: np.ndarray, hot: np.ndarray, bad_flat: np.ndarray) -> np.ndarray:
    """Static pixel bits (ny, nx) uint32 from the three bool maps."""
    return (
        np.where(dead, DEAD, 0) | np.where(hot, HOT, 0) | np.where(bad_flat, BAD_FLAT, 0)
    ).astype(DTYPE)


def names(value: int) -> list[str]:
    """Names of the bits set in ``value`` (bit order); raises ValueError for unknown bits."""
    value = int(value)
    unknown = value & ~sum(FLAGS)
    if unknown:
        raise ValueError(f"data-quality value {value} has undefined bits {unknown:#x}")
    return [name for bit, name in FLAGS.items() if value & bit]


def reduce_or(dq: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """Bitwise OR of ``dq`` over ``axis`` (uint32)."""
    return np.bitwise_or.reduce(np.asarray(dq, DTYPE), axis=axis)


def bin_or(t: np.ndarray, dq: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bitwise OR of the per-sample bits ``dq`` (n, ...) in each time bin of ``edges``
    (hours, same binning as :func:`spectramind.calibration.phase.time_bin`; samples outside
    [edges[0], edges[-1]] are left out) -> (n_bins, ...) uint32, 0 for an empty bin."""
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
    inside = (t >= edges[0]) & (t <= edges[-1])
    out = np.zeros((len(edges) - 1, *dq.shape[1:]), DTYPE)
    np.bitwise_or.at(out, idx[inside], np.asarray(dq, DTYPE)[inside])
    return out


def cf_attributes(long_name: str) -> dict[str, object]:
    """CF attributes of a DQ variable: ``flag_masks`` (uint32) and ``flag_meanings``."""
    return {
        "long_name": long_name,
        "flag_masks": np.array(list(FLAGS), dtype=DTYPE),
        "flag_meanings": " ".join(FLAGS.values()),
        "comment": "bitwise OR of the data-quality bits of the inputs of each value; "
        "0 = no input flagged; only no_valid_data marks a missing value",
    }
