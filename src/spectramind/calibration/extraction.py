"""AIRS trace extraction and FGS1 photometry on calibrated CDS frames.

Shapes: CDS frames ``(n, ny, nx)`` (flux), ``var`` the same, ``mask`` the same (True = bad).
"""

from __future__ import annotations

import numpy as np

from spectramind.constants import AIRS_FIRST_COLUMN, AIRS_STOP_COLUMN


def to_target_order(x: np.ndarray) -> np.ndarray:
    """AIRS per-column values (..., 282) for columns 39..320 -> wl_2..wl_283 order (flip)."""
    if x.shape[-1] != AIRS_STOP_COLUMN - AIRS_FIRST_COLUMN:
        raise ValueError(f"expected 282 AIRS columns, got {x.shape[-1]}")
    return x[..., ::-1]


def row_mask(n_rows: int, rows: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> np.ndarray:
    """(n_rows,) bool: True in each [start, stop) range of ``rows``."""
    sel = np.zeros(n_rows, dtype=bool)
    for lo, hi in rows:
        sel[lo:hi] = True
    return sel


def edge_background(x: np.ndarray, mask: np.ndarray, rows: list[tuple[int, int]]) -> np.ndarray:
    """Per-frame, per-column background: the mean of the unmasked pixels of the edge ``rows``.

    Returns (n, nx). Columns with no valid edge pixel get 0.
    """
    sel = row_mask(x.shape[1], rows)
    good = ~mask[:, sel]
    n = good.sum(axis=1)
    s = np.where(good, x[:, sel], 0).sum(axis=1)
    return np.where(n > 0, s / np.maximum(n, 1), 0).astype(x.dtype)


def spatial_profile(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalised spatial profile (ny, nx) from the time-averaged frame (Horne 1986 step 5).

    Negative values are set to 0 and each column sums to 1 (columns with no flux: uniform).
    Pixels masked in every frame (static bad pixels) are filled by :func:`fill_profile`.
    """
    good = ~mask
    n_good = good.sum(axis=0)
    mean = np.where(good, x, 0).sum(axis=0) / np.maximum(n_good, 1)
    return fill_profile(np.clip(mean, 0, None), n_good > 0)


def fill_profile(mean: np.ndarray, has_data: np.ndarray) -> np.ndarray:
    """Column-normalised profile (ny, nx) from a mean frame with holes.

    ``has_data`` (ny, nx) False where no frame had a valid pixel. A hole gets the profile
    interpolated along the dispersion axis (row by row, from the columns without holes),
    scaled to the column's own valid pixels; without this a static bad pixel in the trace
    core would get profile 0 and its flux would never be replaced (biased extraction).
    """
    mean = np.where(has_data, mean, 0.0)
    tot = mean.sum(axis=0)
    complete = has_data.all(axis=0) & (tot > 0)
    if not has_data.all() and complete.any():
        cols = np.flatnonzero(complete)
        ref = mean[:, cols] / tot[cols]
        interp = np.stack([np.interp(np.arange(mean.shape[1]), cols, row) for row in ref])
        s_good = np.where(has_data, interp, 0).sum(axis=0)
        scale = np.where(s_good > 0, tot / np.where(s_good > 0, s_good, 1), 1.0)
        mean = np.where(has_data, mean, interp * scale)
        tot = mean.sum(axis=0)
    return np.where(tot > 0, mean / np.where(tot > 0, tot, 1), 1.0 / mean.shape[0])


def box_extract(
    x: np.ndarray, var: np.ndarray, mask: np.ndarray, profile: np.ndarray, rows: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Box sum over ``rows`` with masked pixels replaced through the profile.

    flux = sum_good(D) / sum_good(P) * sum_all(P) over the box; returns flux, var (n, nx).
    """
    lo, hi = rows
    d, v, g, p = x[:, lo:hi], var[:, lo:hi], ~mask[:, lo:hi], profile[lo:hi]
    p_all = p.sum(axis=0)
    p_good = np.where(g, p, 0).sum(axis=1)
    scale = np.where(p_good > 0, p_all / np.where(p_good > 0, p_good, 1), np.nan)
    flux = np.where(g, d, 0).sum(axis=1) * scale
    fvar = np.where(g, v, 0).sum(axis=1) * scale**2
    return flux.astype(x.dtype), fvar.astype(x.dtype)


def optimal_extract(
    x: np.ndarray, var: np.ndarray, mask: np.ndarray, profile: np.ndarray, rows: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Horne (1986) optimal extraction over ``rows``.

    flux = sum(M P D / V) / sum(M P^2 / V) * sum_box(P), var = sum_box(P)^2 / sum(M P^2 / V):
    the estimate of the total flux within the box (same normalisation as :func:`box_extract`).
    Returns flux, var (n, nx); a column with no good pixel gives NaN.
    """
    lo, hi = rows
    d, v, g, p = x[:, lo:hi], var[:, lo:hi], ~mask[:, lo:hi], profile[lo:hi]
    w = np.where(g, p / np.where(v > 0, v, np.inf), 0)
    denom = (w * p).sum(axis=1)
    p_box = p.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        flux = (w * d).sum(axis=1) / denom * p_box
        fvar = p_box**2 / denom
    bad = denom <= 0
    return np.where(bad, np.nan, flux).astype(x.dtype), np.where(bad, np.nan, fvar).astype(x.dtype)


def trace_centroid(
    x: np.ndarray, mask: np.ndarray, rows: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame flux-weighted row centroid and rms width of the whole trace (n,), (n,)."""
    lo, hi = rows
    d = np.where(mask[:, lo:hi], 0, np.clip(x[:, lo:hi], 0, None)).sum(axis=2)  # (n, rows)
    y = np.arange(lo, hi, dtype=np.float64)
    tot = d.sum(axis=1)
    safe = np.where(tot > 0, tot, 1)
    cy = (d * y).sum(axis=1) / safe
    width = np.sqrt(np.clip((d * (y - cy[:, None]) ** 2).sum(axis=1) / safe, 0, None))
    return cy, width


def aperture_mask(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    """(ny, nx) bool: pixels whose centre lies within ``radius`` of ``centre`` (y, x)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.hypot(yy - centre[0], xx - centre[1]) <= radius


def annulus_mask(
    shape: tuple[int, int],
    centre: tuple[float, float],
    annulus: tuple[float, float],
    static_mask: np.ndarray,
) -> np.ndarray:
    """(ny, nx) bool: the background annulus [inner, outer) around ``centre`` without the
    statically bad pixels of ``static_mask``."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    r = np.hypot(yy - centre[0], xx - centre[1])
    return (r >= annulus[0]) & (r < annulus[1]) & ~static_mask


def aperture_photometry(
    x: np.ndarray,
    var: np.ndarray,
    mask: np.ndarray,
    *,
    centre: tuple[float, float],
    radius: float,
    annulus: tuple[float, float],
    template: np.ndarray,
    static_mask: np.ndarray,
) -> dict[str, np.ndarray]:
    """Background-subtracted circular-aperture photometry of the FGS1 PSF, with centroids.

    x, var, mask: (n, ny, nx). The background is the per-frame median of the annulus pixels
    that are not statically bad (``static_mask`` (ny, nx)). Masked aperture pixels are
    replaced through ``template`` (ny, nx), the time-averaged PSF: flux = sum_good(D) /
    sum_good(T) * sum_aperture(T). Returns dict of (n,) arrays: flux, var, centroid_y,
    centroid_x, background.
    """
    ny, nx = x.shape[1:]
    yy, xx = np.mgrid[0:ny, 0:nx]
    ap = aperture_mask((ny, nx), centre, radius)
    ann = annulus_mask((ny, nx), centre, annulus, static_mask)
    if not ann.any():
        raise ValueError("no good pixel in the FGS1 background annulus")
    n = x.shape[0]
    ann_vals = x[:, ann]
    bkg = np.median(ann_vals, axis=1)
    d = x[:, ap] - bkg[:, None].astype(x.dtype)
    g = ~mask[:, ap]
    t_ap = np.clip(template[ap], 0, None)
    frac_good = (g * t_ap).sum(axis=1)
    t_sum = t_ap.sum()
    scale = np.where(frac_good > 0, t_sum / np.where(frac_good > 0, frac_good, 1), np.nan)
    flux = np.where(g, d, 0).sum(axis=1) * scale
    n_ap, n_ann = int(ap.sum()), int(ann.sum())
    # background error: n_ap pixels share one median of n_ann pixels (var of a median ~ pi/2 var/n)
    bvar = ann_vals.var(axis=1) * np.pi / (2 * n_ann) * n_ap**2
    fvar = np.where(g, var[:, ap], 0).sum(axis=1) * scale**2 + bvar
    w = np.where(g, np.clip(d, 0, None), 0)
    tot = w.sum(axis=1)
    safe = np.where(tot > 0, tot, 1)
    return {
        "flux": flux.reshape(n),
        "var": fvar.reshape(n),
        "background": bkg,
        "centroid_y": (w * yy[ap]).sum(axis=1) / safe,
        "centroid_x": (w * xx[ap]).sum(axis=1) / safe,
    }
