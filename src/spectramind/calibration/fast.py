"""Fused numba kernels of the pixel stages (the fast path of :func:`run_pixel_stages`).

One pass over the raw reads does ADC decode, saturation flags, linearity (Horner), dark,
flat, CDS and the CDS variance; a second pass flags cosmic rays. The reference is the
chain of numpy functions in :mod:`spectramind.calibration.detector`, which these kernels
must reproduce (``tests/test_calibration_real.py`` compares them to float32 rounding).

The pixel kernel loops over blocks of frame pairs, then rows, then the pairs of the block:
each row's two reads are gathered from the pixel-major buffer of
:func:`spectramind.io.read_signal` (cache lines that the block's pairs reuse) into a small
buffer, then one branch-free loop over the row (``error_model="numpy"``: no division check)
that LLVM vectorises writes the frame-major outputs in contiguous runs (single-thread CPU
on 20 000 pairs of 32 x 32 from Arrow buffers: 0.16 s against 0.21-0.31 s for pixels
outside the pairs, the loop of commit ce2c40b); blocks run in parallel (``numba.prange``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numba
import numpy as np

from spectramind.calibration import dq
from spectramind.timing import timed

BLOCK_PAIRS = 128  # pairs per block: 512 contiguous bytes per pixel of the pixel-major reader
N_COEFFS = 6  # linear_corr polynomial c0..c5
_UINT16_MAX = 65535
_SATURATED = dq.PIXEL_DTYPE(dq.SATURATED)
_COSMIC_RAY = dq.PIXEL_DTYPE(dq.COSMIC_RAY)


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _pixel_chain(
    raw, inv_gain, offset, coeffs, dark, dt0, dt1, flat, read, static, flux, var, mask
):  # pragma: no cover - compiled
    n_pairs = flux.shape[0]
    ny, nx = flux.shape[1], flux.shape[2]
    n_blocks = (n_pairs + BLOCK_PAIRS - 1) // BLOCK_PAIRS
    zero = np.float32(0.0)
    for b in numba.prange(n_blocks):
        t_lo = b * BLOCK_PAIRS
        t_hi = min(t_lo + BLOCK_PAIRS, n_pairs)
        r0 = np.empty(nx, np.float32)
        r1 = np.empty(nx, np.float32)
        sat = np.empty(nx, np.uint8)
        for y in range(ny):
            c0, c1, c2 = coeffs[0, y], coeffs[1, y], coeffs[2, y]
            c3, c4, c5 = coeffs[3, y], coeffs[4, y], coeffs[5, y]
            fl, dk, rd, st = flat[y], dark[y], read[y], static[y]
            for t in range(t_lo, t_hi):
                # gather the row's two reads (strided in the pixel-major buffer) ...
                for x in range(nx):
                    a0 = raw[2 * t, y, x]
                    a1 = raw[2 * t + 1, y, x]
                    sat[x] = (a0 == 0) | (a1 == 0) | (a0 == _UINT16_MAX) | (a1 == _UINT16_MAX)
                    r0[x] = np.float32(a0)
                    r1[x] = np.float32(a1)
                # ... then a branch-free loop over the row that LLVM vectorises
                fo, vo, mo = flux[t, y], var[t, y], mask[t, y]
                for x in range(nx):
                    x0 = r0[x] * inv_gain + offset
                    x1 = r1[x] * inv_gain + offset
                    x0 = ((((c5[x] * x0 + c4[x]) * x0 + c3[x]) * x0 + c2[x]) * x0 + c1[x]) * x0
                    x1 = ((((c5[x] * x1 + c4[x]) * x1 + c3[x]) * x1 + c2[x]) * x1 + c1[x]) * x1
                    f = fl[x]
                    c = (((x1 + c0[x]) - dk[x] * dt1) - ((x0 + c0[x]) - dk[x] * dt0)) / f
                    fo[x] = c
                    vo[x] = (max(c, zero) * f + np.float32(2.0) * rd[x] * rd[x]) / (f * f)
                    mo[x] = st[x] | (sat[x] * _SATURATED)


def _kernel_maps(
    *,
    gain: float,
    offset: float,
    coeffs: np.ndarray | None,
    dark: np.ndarray,
    dt: tuple[float, float],
    flat_safe: np.ndarray,
    read: np.ndarray,
    static_mask: np.ndarray,
) -> tuple[Any, ...]:
    """The per-pixel constants of :func:`_pixel_chain` in the kernel's dtypes (float32)."""
    ny, nx = dark.shape
    f32 = np.float32
    if coeffs is None:  # identity polynomial: linearity skipped
        coeffs = np.zeros((N_COEFFS, ny, nx))
        coeffs[1] = 1.0
    if coeffs.shape != (N_COEFFS, ny, nx):
        raise ValueError(
            f"linearity coefficients must be ({N_COEFFS}, {ny}, {nx}), got {coeffs.shape}"
        )
    return (
        f32(1.0 / gain),
        f32(offset),
        coeffs.astype(f32),
        dark.astype(f32),
        f32(dt[0]),
        f32(dt[1]),
        flat_safe.astype(f32),
        read.astype(f32),
        static_mask.astype(dq.PIXEL_DTYPE),
    )


def _run_pixel_chain(
    raw: np.ndarray, consts: tuple[Any, ...], flux: np.ndarray, var: np.ndarray, mask: np.ndarray
) -> None:
    inv_gain, offset, coeffs, dark, dt0, dt1, flat, read, static = consts
    _pixel_chain(raw, inv_gain, offset, coeffs, dark, dt0, dt1, flat, read, static, flux, var, mask)


def _outputs(n: int, ny: int, nx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flux = np.empty((n, ny, nx), np.float32)
    return flux, np.empty_like(flux), np.empty((n, ny, nx), dq.PIXEL_DTYPE)


def pixel_chain(
    raw: np.ndarray,
    *,
    gain: float,
    offset: float,
    coeffs: np.ndarray | None,
    dark: np.ndarray,
    dt: tuple[float, float],
    flat_safe: np.ndarray,
    read: np.ndarray,
    static_mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ADC -> linearity -> dark -> flat -> CDS with variance and mask, fused.

    raw: (2n, ny, nx) uint16 (any strides); ``offset`` already carries the ADC sign;
    ``flat_safe`` has bad flat pixels set to 1; ``static_mask`` holds the static DQ bits
    (ny, nx). Returns flux, var (n, ny, nx) float32 and the DQ bits (n, ny, nx)
    ``dq.PIXEL_DTYPE`` (static | ``dq.SATURATED``).
    """
    return pixel_chain_stream(
        [(0, raw)],
        raw.shape[0],
        gain=gain,
        offset=offset,
        coeffs=coeffs,
        dark=dark,
        dt=dt,
        flat_safe=flat_safe,
        read=read,
        static_mask=static_mask,
    )


def pixel_chain_stream(
    batches: Iterable[tuple[int, np.ndarray]],
    n_reads: int,
    *,
    gain: float,
    offset: float,
    coeffs: np.ndarray | None,
    dark: np.ndarray,
    dt: tuple[float, float],
    flat_safe: np.ndarray,
    read: np.ndarray,
    static_mask: np.ndarray,
    timings: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pixel_chain` on raw reads that arrive in batches (a streamed file).

    batches: ``(first_read, reads)`` with ``reads`` (2k, ny, nx) uint16 (any strides) and
    ``first_read`` even, together covering reads 0 .. ``n_reads``; each batch is calibrated
    as it arrives (the kernel releases the GIL, so a reader thread decodes the next batch
    meanwhile) and can be freed after. Same outputs as :func:`pixel_chain` on the whole array.
    ``timings`` gets "read (waiting for the decoder)" and "pixel kernel".
    """
    ny, nx = dark.shape
    consts = _kernel_maps(
        gain=gain,
        offset=offset,
        coeffs=coeffs,
        dark=dark,
        dt=dt,
        flat_safe=flat_safe,
        read=read,
        static_mask=static_mask,
    )
    flux, var, mask = _outputs(n_reads // 2, ny, nx)
    done = 0
    it = iter(batches)
    while True:
        with timed(timings, "read (waiting for the decoder)"):
            item = next(it, None)
        if item is None:
            break
        first, reads = item
        if first % 2 or reads.shape[0] % 2 or reads.shape[1:] != (ny, nx):
            raise ValueError(f"batch at read {first} of shape {reads.shape} is not whole pairs")
        o = slice(first // 2, first // 2 + reads.shape[0] // 2)
        with timed(timings, "pixel kernel"):
            _run_pixel_chain(reads, consts, flux[o], var[o], mask[o])
        done += reads.shape[0]
    if done != n_reads:
        raise ValueError(f"batches held {done} reads, expected {n_reads}")
    return flux, var, mask


@numba.njit(parallel=True, cache=True)
def _flag_cosmic_rays(flux, var, scatter, sigma, mask):  # pragma: no cover - compiled
    n, ny, nx = flux.shape
    n_blocks = (n + BLOCK_PAIRS - 1) // BLOCK_PAIRS
    count = np.zeros(n_blocks, np.int64)
    for blk in numba.prange(n_blocks):
        for t in range(blk * BLOCK_PAIRS, min((blk + 1) * BLOCK_PAIRS, n)):
            tp = t - 1 if t > 0 else t
            tn = t + 1 if t < n - 1 else t
            for y in range(ny):
                for x in range(nx):
                    a = flux[tp, y, x]
                    b = flux[t, y, x]
                    c = flux[tn, y, x]
                    med = max(min(a, b), min(max(a, b), c))
                    noise = max(np.sqrt(var[t, y, x]), scatter[y, x])
                    if abs(b - med) > sigma * noise and mask[t, y, x] == 0:
                        mask[t, y, x] = _COSMIC_RAY
                        count[blk] += 1
    return count.sum()


def flag_cosmic_rays(
    flux: np.ndarray, var: np.ndarray, scatter: np.ndarray, sigma: float, mask: np.ndarray
) -> int:
    """Set ``dq.COSMIC_RAY`` in the DQ bits ``mask`` of unflagged pixels where |x_t - median3_t|
    > sigma * max(sqrt(var_t), scatter); returns the number of newly flagged pixels. Same rule as :func:`detector.flag_cosmic_rays` on the
    whole series (at the series ends the missing neighbour is the pair itself)."""
    return int(_flag_cosmic_rays(flux, var, scatter.astype(np.float32), np.float32(sigma), mask))


@numba.njit(parallel=True, cache=True, nogil=True)
def _aperture_photometry(
    flux, var, bits, ap, ann, t_ap, yy, xx, scaled_bvar, out, out_dq
):  # pragma: no cover - compiled
    n = flux.shape[0]
    n_ap, n_ann = ap.size, ann.size
    t_sum = 0.0
    for k in range(n_ap):
        t_sum += t_ap[k]
    for t in numba.prange(n):
        f = flux[t].ravel()
        v = var[t].ravel()
        b = bits[t].ravel()
        vals = np.empty(n_ann, np.float64)
        for k in range(n_ann):
            vals[k] = f[ann[k]]
        bkg = np.median(vals)
        mean = vals.mean()
        ss = 0.0
        for k in range(n_ann):
            ss += (vals[k] - mean) ** 2
        s = sv = frac = w_sum = wy = wx = 0.0
        acc = np.uint32(0)
        for k in range(n_ap):
            p = ap[k]
            acc |= b[p]
            if b[p] != 0:
                continue
            d = f[p] - bkg
            s += d
            sv += v[p]
            frac += t_ap[k]
            if d > 0:
                w_sum += d
                wy += d * yy[k]
                wx += d * xx[k]
        scale = t_sum / frac if frac > 0 else np.nan
        safe = w_sum if w_sum > 0 else 1.0
        out[0, t] = s * scale
        out[1, t] = sv * scale * scale + ss / n_ann * scaled_bvar
        out[2, t] = bkg
        out[3, t] = wy / safe
        out[4, t] = wx / safe
        out_dq[t] = acc


PHOTOMETRY_KEYS = ("flux", "var", "background", "centroid_y", "centroid_x")


def aperture_photometry(
    flux: np.ndarray,
    var: np.ndarray,
    bits: np.ndarray,
    *,
    aperture: np.ndarray,
    annulus: np.ndarray,
    template: np.ndarray,
) -> dict[str, np.ndarray]:
    """:func:`spectramind.calibration.extraction.aperture_photometry` fused, in one pass over
    the pairs (parallel), with the OR of the aperture pixels' DQ bits (``dq``).

    flux, var (n, ny, nx) float32, bits (n, ny, nx) DQ bits (0 = good); ``aperture`` and
    ``annulus`` (ny, nx) bool (the annulus without its static bad pixels), ``template``
    (ny, nx) the time-averaged PSF. Same formulas, accumulated in float64.
    """
    if not annulus.any():
        raise ValueError("no good pixel in the FGS1 background annulus")
    n, nx = flux.shape[0], flux.shape[2]
    ap = np.flatnonzero(aperture.ravel())
    ann = np.flatnonzero(annulus.ravel())
    yy, xx = np.divmod(ap, nx)
    # background error: n_ap pixels share one median of n_ann pixels (var ~ pi/2 var/n)
    scaled_bvar = np.pi / (2 * ann.size) * ap.size**2
    out, out_dq = np.empty((len(PHOTOMETRY_KEYS), n)), np.empty(n, dq.DTYPE)
    _aperture_photometry(
        np.ascontiguousarray(flux),
        np.ascontiguousarray(var),
        np.ascontiguousarray(bits),
        ap,
        ann,
        np.clip(template.ravel()[ap], 0, None).astype(np.float64),
        yy.astype(np.float64),
        xx.astype(np.float64),
        float(scaled_bvar),
        out,
        out_dq,
    )
    return {**dict(zip(PHOTOMETRY_KEYS, out, strict=True)), "dq": out_dq}


@numba.njit(parallel=True, cache=True, nogil=True)
def _pair_qa(bits, static, out):  # pragma: no cover - compiled
    n = bits.shape[0]
    for t in numba.prange(n):
        b = bits[t].ravel()
        masked = transient = 0
        for p in range(b.size):
            if b[p] != 0:
                masked += 1
                if static[p] == 0:
                    transient += 1
        out[0, t] = masked / b.size
        out[1, t] = transient


def pair_qa(bits: np.ndarray, static_bits: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`spectramind.calibration.pipeline.pair_qa` in one parallel pass over the pairs."""
    out = np.empty((2, bits.shape[0]))
    _pair_qa(np.ascontiguousarray(bits), np.ascontiguousarray(static_bits).ravel(), out)
    return {"masked_fraction": out[0], "transient_pixels": out[1]}


@numba.njit(parallel=True, cache=True, nogil=True)
def _airs_background(flux, bits, lo, hi, bg_rows, bkg, num, den):  # pragma: no cover - compiled
    n, ny = flux.shape[0], flux.shape[1]
    w = hi - lo
    n_blocks = num.shape[0]
    for blk in numba.prange(n_blocks):
        for t in range(blk * BLOCK_PAIRS, min((blk + 1) * BLOCK_PAIRS, n)):
            for j in range(w):
                s = 0.0
                k = 0
                for y in bg_rows:
                    if bits[t, y, lo + j] == 0:
                        s += flux[t, y, lo + j]
                        k += 1
                bkg[t, j] = np.float32(s / k) if k > 0 else np.float32(0.0)
            for y in range(ny):
                for j in range(w):
                    if bits[t, y, lo + j] == 0:
                        num[blk, y, j] += flux[t, y, lo + j] - bkg[t, j]
                        den[blk, y, j] += 1.0


@numba.njit(parallel=True, cache=True, nogil=True)
def _airs_extract(
    flux, var, bits, lo, r0, r1, bkg, profile, out_f, out_v, out_dq, trace
):  # pragma: no cover - compiled
    n, w = out_f.shape
    n_rows = r1 - r0
    for t in numba.prange(n):
        row_sum = np.zeros(n_rows)
        bsum = 0.0
        for j in range(w):
            b = bkg[t, j]
            bsum += b
            wd = wp = p_box = 0.0
            acc = np.uint32(0)
            for y in range(r0, r1):
                p = profile[y, j]
                p_box += p
                bit = bits[t, y, lo + j]
                acc |= bit
                if bit != 0:
                    continue
                d = flux[t, y, lo + j] - b
                if d > 0:
                    row_sum[y - r0] += d
                v = var[t, y, lo + j]
                if v > 0:
                    wt = p / v
                    wd += wt * d
                    wp += wt * p
            if wp > 0:
                out_f[t, j] = wd / wp * p_box
                out_v[t, j] = p_box * p_box / wp
            else:
                out_f[t, j] = np.nan
                out_v[t, j] = np.nan
            out_dq[t, j] = acc
        tot = cy = 0.0
        for i in range(n_rows):
            tot += row_sum[i]
            cy += row_sum[i] * (r0 + i)
        safe = tot if tot > 0 else 1.0
        cy /= safe
        m2 = 0.0
        for i in range(n_rows):
            m2 += row_sum[i] * (r0 + i - cy) ** 2
        trace[0, t] = cy
        trace[1, t] = np.sqrt(max(m2 / safe, 0.0))
        trace[2, t] = bsum / w


def airs_background_profile(
    flux: np.ndarray, bits: np.ndarray, columns: tuple[int, int], background_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair, per-column edge background (n, W) float32 and the sums ``num`` / ``den``
    (ny, W) of the background-subtracted good pixels over the pairs (the profile's mean);
    the pass of :func:`spectramind.calibration.extraction.edge_background` and the profile."""
    lo, hi = columns
    n, ny = flux.shape[0], flux.shape[1]
    n_blocks = max(1, (n + BLOCK_PAIRS - 1) // BLOCK_PAIRS)
    bkg = np.empty((n, hi - lo), np.float32)
    num = np.zeros((n_blocks, ny, hi - lo))
    den = np.zeros_like(num)
    rows = np.flatnonzero(background_rows).astype(np.int64)
    _airs_background(flux, bits, lo, hi, rows, bkg, num, den)
    return bkg, num.sum(axis=0), den.sum(axis=0)


def airs_optimal_extract(
    flux: np.ndarray,
    var: np.ndarray,
    bits: np.ndarray,
    *,
    columns: tuple[int, int],
    rows: tuple[int, int],
    background: np.ndarray,
    profile: np.ndarray,
) -> dict[str, np.ndarray]:
    """Optimal extraction (Horne 1986), the DQ OR of the extraction rows, the trace centroid
    and width and the mean background of every pair, in one parallel pass: the formulas of
    :func:`~spectramind.calibration.extraction.optimal_extract` and
    :func:`~spectramind.calibration.extraction.trace_centroid`, accumulated in float64.
    Returns flux, var, dq (n, W) in column order, trace_y, trace_width, background (n,)."""
    lo, hi = columns
    n = flux.shape[0]
    out_f = np.empty((n, hi - lo), np.float32)
    out_v = np.empty_like(out_f)
    out_dq = np.empty((n, hi - lo), dq.DTYPE)
    trace = np.empty((3, n))
    _airs_extract(
        flux, var, bits, lo, rows[0], rows[1], background,
        profile.astype(np.float64), out_f, out_v, out_dq, trace,
    )  # fmt: skip
    return {
        "flux": out_f,
        "var": out_v,
        "dq": out_dq,
        "trace_y": trace[0],
        "trace_width": trace[1],
        "background": trace[2],
    }
