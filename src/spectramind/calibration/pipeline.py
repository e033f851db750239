"""The calibration chain ADC -> dark -> flat -> CDS -> photometry/trace -> phase, fused.

The pixel stages run in one streaming pass over chunks of frame pairs (cache-sized, no
pixel-level intermediate is written), so the chain costs about as much as reading the
files. Each stage is still available on its own (:func:`run_stages` with ``stop_after``)
for the per-stage Snakemake rules. Products are xarray Datasets with named dims and units.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from spectramind import io, provenance, streams
from spectramind.calibration import detector, dq, extraction, phase
from spectramind.constants import VISIT_HOURS
from spectramind.defaults import schema_defaults
from spectramind.timing import timed

PIXEL_STAGES = ("adc", "dark", "flat", "cds")
#: the pixel stages in the order they run, linearity (optional) included
PIXEL_STEPS = ("adc", "linearity", "dark", "flat", "cds")
STAGES = (*PIXEL_STAGES, "photometry", "trace", "phase")
CHUNK_ELEMENTS = 1 << 18  # pixels per chunk (~1 MB float32): the working set stays in cache


@dataclass(frozen=True)
@schema_defaults("calibration")
class CalibrationConfig:
    """Parameters of every stage (config keys ``calibration.*``; defaults: the schema)."""

    adc_offset_sign: str
    linearity: bool
    hot_pixel_sigma: float
    flat_minimum: float
    dark_dt_s: Mapping[str, tuple[float, float]]
    cosmic_ray_sigma: float
    background_rows: tuple[tuple[int, int], ...]
    extraction: str
    extraction_rows: tuple[int, int]
    fgs_aperture_radius: float
    fgs_annulus: tuple[float, float]
    time_bin_s: float
    transit_baseline_degree: int
    oot_margin_h: float
    engine: str

    def __post_init__(self) -> None:
        """Relations between keys that the JSON schema cannot state (each would otherwise give
        NaN or a silently wrong product): row ranges [start, stop) with start < stop, an
        annulus outside the aperture, enough time bins for the transit baseline."""
        ranges = {
            "extraction_rows": [self.extraction_rows],
            "background_rows": list(self.background_rows),
        }
        for key, rows in ranges.items():
            for lo, hi in rows:
                if not 0 <= lo < hi <= 32:
                    raise ValueError(
                        f"calibration.{key}: [{lo}, {hi}] is not a row range [start, stop) "
                        "with 0 <= start < stop <= 32"
                    )
        inner, outer = self.fgs_annulus
        if not self.fgs_aperture_radius <= inner < outer:
            raise ValueError(
                f"calibration.fgs_annulus: [{inner}, {outer}] must satisfy fgs_aperture_radius "
                f"({self.fgs_aperture_radius}) <= inner < outer (a background annulus outside "
                "the aperture)"
            )
        n_bins = int(np.ceil(VISIT_HOURS * 3600.0 / self.time_bin_s - 1e-9))
        if n_bins < self.transit_baseline_degree + 4:
            raise ValueError(
                f"calibration.time_bin_s: {self.time_bin_s} s gives {n_bins} time bins over the "
                f"{VISIT_HOURS} h visit; transit detection with transit_baseline_degree="
                f"{self.transit_baseline_degree} needs at least {self.transit_baseline_degree + 4}"
            )

    @classmethod
    def from_dict(cls, d: Mapping) -> CalibrationConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown calibration config keys: {unknown}")
        conv = dict(known)
        for key in ("extraction_rows", "fgs_annulus"):
            if key in conv:
                conv[key] = tuple(conv[key])
        if "background_rows" in conv:
            conv["background_rows"] = tuple(tuple(r) for r in conv["background_rows"])
        if "dark_dt_s" in conv:
            conv["dark_dt_s"] = {k: tuple(v) for k, v in conv["dark_dt_s"].items()}
        if conv.get("engine", "numba") not in ("numba", "numpy"):
            raise ValueError(
                f"calibration.engine must be 'numba' or 'numpy', got {conv['engine']!r}"
            )
        if conv.get("extraction", "optimal") not in ("optimal", "box"):
            raise ValueError(
                f"calibration.extraction must be 'optimal' or 'box', got {conv['extraction']!r}"
            )
        return cls(**conv)

    def digest(self) -> str:
        """sha256 of this config section (``calibration_config_sha256`` of every product)."""
        return provenance.section_sha256(self)


# --------------------------------------------------------------------------- pixel stages
@dataclass(frozen=True)
class PixelProducts:
    """Output of the fused pixel stages for one instrument and visit."""

    flux: np.ndarray  # (n_pairs, ny, nx) CDS counts per pair, flat-fielded
    var: np.ndarray  # same shape
    dq: np.ndarray  # same shape, dq.PIXEL_DTYPE data-quality bits (calibration.dq), 0 = good
    static_dq: np.ndarray  # (ny, nx) uint32: dq.DEAD | dq.HOT | dq.BAD_FLAT
    n_cosmic: int
    stages: dict[str, str]

    @property
    def mask(self) -> np.ndarray:
        """True where any DQ bit is set (a new bool array)."""
        return self.dq != 0

    @property
    def static_mask(self) -> np.ndarray:
        """(ny, nx) True where a static DQ bit is set."""
        return self.static_dq != 0


def pixel_stage_record(stop_after: str, linearity: bool) -> dict[str, str]:
    """Stage record of the pixel stages run up to ``stop_after`` (COMPLETE / SKIPPED)."""
    last = PIXEL_STEPS.index(stop_after)
    done = [s for s in PIXEL_STEPS[: last + 1] if s != "linearity" or linearity]
    return provenance.stage_record(done, [s for s in PIXEL_STEPS if s not in done])


def run_pixel_stages(
    raw: np.ndarray | io.SignalFile,
    maps: io.CalibrationMaps,
    *,
    gain: float,
    offset: float,
    instrument: str,
    cfg: CalibrationConfig,
    stop_after: str = "cds",
    timings: dict[str, float] | None = None,
    batches: Iterator[tuple[int, np.ndarray]] | None = None,
) -> PixelProducts:
    """ADC -> linearity -> dark -> flat -> CDS (-> cosmic-ray flags) over chunks of pairs.

    raw: (2n, ny, nx) uint16, or an opened signal file: the numba engine then calibrates
    its batches as they are decoded (streamed, read and compute overlapped); the numpy
    engine and the per-read stages read it whole first. ``stop_after`` in ("adc", "dark",
    "flat") returns per-read arrays (2n, ny, nx) instead of CDS pairs (for the per-stage
    rules). ``batches``: the decoded batches of ``raw`` when the caller already started
    them (:func:`stream_signal`, to decode ahead), else they are started here.
    """
    if stop_after not in PIXEL_STAGES:
        raise ValueError(f"stop_after must be one of {PIXEL_STAGES}")
    n_reads, ny, nx = n_frames(raw), *_frame_shape(raw)
    if (ny, nx) != maps.dark.shape:
        raise ValueError(f"frames are {ny}x{nx} but calibration maps are {maps.dark.shape}")
    static = detector.pixel_dq(
        maps.dead,
        maps.dark,
        maps.flat,
        hot_sigma=cfg.hot_pixel_sigma,
        flat_minimum=cfg.flat_minimum,
    )
    bad_flat = detector.bad_flat_mask(maps.flat, minimum=cfg.flat_minimum)
    dt = cfg.dark_dt_s[instrument]
    if stop_after == "cds" and cfg.engine == "numba":
        return _run_pixel_stages_numba(
            raw, maps, gain, offset, cfg, static, bad_flat, dt, timings, batches
        )
    if isinstance(raw, io.SignalFile):
        with timed(timings, "read"):
            raw = io.read_frames(raw)
    per_read = stop_after != "cds"
    n_out = n_reads if per_read else n_reads // 2
    flux = np.empty((n_out, ny, nx), dtype=np.float32)
    var = np.empty_like(flux) if not per_read else np.zeros((0, ny, nx), np.float32)
    mask = np.empty(flux.shape, dtype=dq.PIXEL_DTYPE)
    step = 32 * max(
        1, CHUNK_ELEMENTS // (32 * ny * nx)
    )  # 32 reads: cache lines of the pixel-major reader
    coeffs = maps.linear_corr.astype(np.float32)
    for a in range(0, n_reads, step):
        r = raw[a : a + step]
        x = detector.adc_decode(r, gain, offset, sign=cfg.adc_offset_sign)
        m = detector.saturation_dq(r) | static
        if cfg.linearity:
            x = detector.linearity_correct(x, coeffs)
        if stop_after != "adc":
            x = detector.dark_subtract(x, maps.dark, dt)
        if stop_after not in ("adc", "dark"):
            x = detector.flat_field(x, maps.flat, bad_flat)
        if per_read:
            flux[a : a + len(r)], mask[a : a + len(r)] = x, m
            continue
        c = detector.cds(x)
        o = slice(a // 2, a // 2 + len(c))
        flux[o] = c
        var[o] = detector.cds_variance(c, maps.read, maps.flat, bad_flat)
        mask[o] = m[0::2] | m[1::2]
    stages = pixel_stage_record(stop_after, cfg.linearity)
    n_cr = 0
    if not per_read:
        n_cr = _flag_cosmic_rays_inplace(flux, var, mask, cfg.cosmic_ray_sigma, step // 2)
    return PixelProducts(flux, var, mask, static, n_cr, stages)


CR_SCATTER_PAIRS = 512  # pairs used to estimate each pixel's robust frame-to-frame scatter


def _cr_scatter(flux: np.ndarray) -> np.ndarray:
    n = flux.shape[0]
    return detector.temporal_scatter(flux[:: max(1, n // CR_SCATTER_PAIRS)][:CR_SCATTER_PAIRS])


def n_frames(raw: np.ndarray | io.SignalFile) -> int:
    """Number of reads of a raw array or opened signal file."""
    return raw.n_frames if isinstance(raw, io.SignalFile) else int(raw.shape[0])


def _frame_shape(raw: np.ndarray | io.SignalFile) -> tuple[int, int]:
    return raw.shape if isinstance(raw, io.SignalFile) else (int(raw.shape[1]), int(raw.shape[2]))


STREAM_PREFETCH = 1  # row groups decoded ahead of the kernel


def stream_signal(signal: io.SignalFile) -> Iterator[tuple[int, np.ndarray]]:
    """The batches of :func:`io.iter_signal`, decoded by a background thread from now on,
    one row group ahead of the consumer (read and compute overlap)."""
    return streams.prefetch(io.iter_signal(signal), depth=STREAM_PREFETCH)


def _run_pixel_stages_numba(
    raw: np.ndarray | io.SignalFile,
    maps: io.CalibrationMaps,
    gain: float,
    offset: float,
    cfg: CalibrationConfig,
    static: np.ndarray,
    bad_flat: np.ndarray,
    dt: tuple[float, float],
    timings: dict[str, float] | None = None,
    batches: Iterator[tuple[int, np.ndarray]] | None = None,
) -> PixelProducts:
    """The fused numba path of :func:`run_pixel_stages` (same results as the numpy chain)."""
    from spectramind.calibration import fast

    kernel_maps: dict[str, Any] = {
        "gain": gain,
        "offset": detector.ADC_SIGNS[cfg.adc_offset_sign] * offset,
        "coeffs": maps.linear_corr if cfg.linearity else None,
        "dark": maps.dark,
        "dt": dt,
        "flat_safe": np.where(bad_flat, 1.0, maps.flat),
        "read": maps.read,
        "static_mask": static,
    }
    if isinstance(raw, io.SignalFile):
        flux, var, mask = fast.pixel_chain_stream(
            stream_signal(raw) if batches is None else batches,
            raw.n_frames,
            **kernel_maps,
            timings=timings,
        )
    else:
        with timed(timings, "pixel kernel"):
            flux, var, mask = fast.pixel_chain(raw, **kernel_maps)
    with timed(timings, "cosmic rays"):
        n_cr = fast.flag_cosmic_rays(flux, var, _cr_scatter(flux), cfg.cosmic_ray_sigma, mask)
    return PixelProducts(flux, var, mask, static, n_cr, pixel_stage_record("cds", cfg.linearity))


def _flag_cosmic_rays_inplace(
    flux: np.ndarray, var: np.ndarray, mask: np.ndarray, sigma: float, step: int
) -> int:
    n, total = flux.shape[0], 0
    scatter = _cr_scatter(flux)
    prev = None
    for a in range(0, n, step):
        b = min(a + step, n)
        nxt = flux[b] if b < n else None
        cr = detector.flag_cosmic_rays(
            flux[a:b], var[a:b], sigma, scatter=scatter, prev=prev, nxt=nxt
        )
        prev = flux[b - 1].copy()
        cr &= mask[a:b] == 0
        total += int(cr.sum())
        mask[a:b] |= np.where(cr, dq.COSMIC_RAY, 0).astype(dq.PIXEL_DTYPE)
    return total


# --------------------------------------------------------------------------- per-instrument
def _airs_background(pix: PixelProducts, cfg: CalibrationConfig, step: int) -> np.ndarray:
    lo, hi = extraction.AIRS_FIRST_COLUMN, extraction.AIRS_STOP_COLUMN
    parts = []
    for a in range(0, pix.flux.shape[0], step):
        s = slice(a, a + step)
        bad = pix.dq[s, :, lo:hi] != 0
        parts.append(
            extraction.edge_background(pix.flux[s, :, lo:hi], bad, list(cfg.background_rows))
        )
    return np.concatenate(parts)


def _airs_profile(pix: PixelProducts, bkg: np.ndarray, step: int) -> np.ndarray:
    """Background-subtracted mean frame of the good pixels (the extraction profile)."""
    lo, hi = extraction.AIRS_FIRST_COLUMN, extraction.AIRS_STOP_COLUMN
    num = np.zeros(pix.flux.shape[1:2] + (hi - lo,))
    den = np.zeros_like(num)
    for a in range(0, pix.flux.shape[0], step):
        s = slice(a, a + step)
        good = pix.dq[s, :, lo:hi] == 0
        d = pix.flux[s, :, lo:hi] - bkg[s][:, None, :]
        num += np.where(good, d, 0).sum(axis=0)
        den += good.sum(axis=0)
    # pixels bad in every frame (hot blocks on the trace core) get an interpolated profile
    return extraction.fill_profile(np.clip(num / np.maximum(den, 1), 0, None), den > 0)


def extract_airs(pix: PixelProducts, cfg: CalibrationConfig) -> dict[str, np.ndarray]:
    """Trace stage: background, profile, extraction of columns 39:321 in target order.

    Returns flux, var, dq (n, 282) in wl_2..wl_283 order (dq: the OR of the DQ bits of the
    extraction-row pixels of each column), trace_y, trace_width (n,), background (n,).
    Engine numba with optimal extraction: two fused parallel passes (the same formulas).
    """
    lo, hi = extraction.AIRS_FIRST_COLUMN, extraction.AIRS_STOP_COLUMN
    if cfg.engine == "numba" and cfg.extraction == "optimal":
        return _extract_airs_numba(pix, cfg)
    r0, r1 = cfg.extraction_rows
    n = pix.flux.shape[0]
    out_f = np.empty((n, hi - lo), np.float32)
    out_v = np.empty_like(out_f)
    out_dq = np.empty((n, hi - lo), dq.DTYPE)
    bkg_mean = np.empty(n)
    ty, tw = np.empty(n), np.empty(n)
    step = max(1, CHUNK_ELEMENTS // (pix.flux.shape[1] * (hi - lo)))
    bkg = _airs_background(pix, cfg, step)
    profile = _airs_profile(pix, bkg, step)
    extract = extraction.optimal_extract if cfg.extraction == "optimal" else extraction.box_extract
    for a in range(0, n, step):
        s = slice(a, a + step)
        d = pix.flux[s, :, lo:hi] - bkg[s][:, None, :]
        bits = pix.dq[s, :, lo:hi]
        bad = bits != 0
        out_f[s], out_v[s] = extract(d, pix.var[s, :, lo:hi], bad, profile, cfg.extraction_rows)
        out_dq[s] = dq.reduce_or(bits[:, r0:r1], axis=1)
        ty[s], tw[s] = extraction.trace_centroid(d, bad, cfg.extraction_rows)
        bkg_mean[s] = bkg[s].mean(axis=1)
    return {
        "flux": extraction.to_target_order(out_f),
        "var": extraction.to_target_order(out_v),
        "dq": extraction.to_target_order(out_dq),
        "trace_y": ty,
        "trace_width": tw,
        "background": bkg_mean,
    }


def _extract_airs_numba(pix: PixelProducts, cfg: CalibrationConfig) -> dict[str, np.ndarray]:
    """:func:`extract_airs` (optimal extraction) in two fused parallel passes: background and
    profile sums, then extraction, DQ, trace centroid and width."""
    from spectramind.calibration import fast

    cols = (extraction.AIRS_FIRST_COLUMN, extraction.AIRS_STOP_COLUMN)
    bg_rows = extraction.row_mask(pix.flux.shape[1], cfg.background_rows)
    bkg, num, den = fast.airs_background_profile(pix.flux, pix.dq, cols, bg_rows)
    profile = extraction.fill_profile(np.clip(num / np.maximum(den, 1), 0, None), den > 0)
    out = fast.airs_optimal_extract(
        pix.flux,
        pix.var,
        pix.dq,
        columns=cols,
        rows=cfg.extraction_rows,
        background=bkg,
        profile=profile,
    )
    for key in ("flux", "var", "dq"):
        out[key] = extraction.to_target_order(out[key])
    return out


TEMPLATE_PAIRS = 2048  # pairs averaged for the FGS1 PSF template and centre


def photometry_fgs(pix: PixelProducts, cfg: CalibrationConfig) -> dict[str, np.ndarray]:
    """Photometry stage: aperture photometry at the time-averaged PSF centroid; ``dq`` (n,)
    is the OR of the DQ bits of the aperture pixels of each pair. Engine numba: one fused
    parallel pass (:func:`fast.aperture_photometry`), numpy: :func:`extraction.aperture_photometry`
    over chunks of pairs."""
    sub = slice(None, None, max(1, pix.flux.shape[0] // TEMPLATE_PAIRS))
    good = pix.dq[sub] == 0
    img = np.where(good, pix.flux[sub], 0).sum(axis=0) / np.maximum(good.sum(axis=0), 1)
    img = np.clip(img - np.median(img), 0, None)
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    tot = img.sum()
    if tot <= 0:
        raise ValueError("FGS1: no stellar flux found in the time-averaged image")
    centre = (float((img * yy).sum() / tot), float((img * xx).sum() / tot))
    ap = extraction.aperture_mask(img.shape, centre, cfg.fgs_aperture_radius)
    if cfg.engine == "numba":
        from spectramind.calibration import fast

        ann = extraction.annulus_mask(img.shape, centre, cfg.fgs_annulus, pix.static_mask)
        return fast.aperture_photometry(
            pix.flux, pix.var, pix.dq, aperture=ap, annulus=ann, template=img
        )
    n = pix.flux.shape[0]
    step = max(1, CHUNK_ELEMENTS // img.size)
    parts = [
        {
            **extraction.aperture_photometry(
                pix.flux[a : a + step],
                pix.var[a : a + step],
                pix.dq[a : a + step] != 0,
                centre=centre,
                radius=cfg.fgs_aperture_radius,
                annulus=cfg.fgs_annulus,
                template=img,
                static_mask=pix.static_mask,
            ),
            "dq": dq.reduce_or(pix.dq[a : a + step, ap], axis=1),
        }
        for a in range(0, n, step)
    ]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# --------------------------------------------------------------------------- per-visit
def pair_mid_times(times_h: np.ndarray, n_reads: int, source: str) -> np.ndarray:
    """Mid-time (h) of each start/end pair; the axis must have one time per read."""
    if times_h.size != n_reads:
        raise io.DataError(
            source, f"time axis has {times_h.size} values but the signal has {n_reads} frames"
        )
    return times_h.reshape(-1, 2).mean(axis=1)


@dataclass(frozen=True)
class VisitSeries:
    """Per-pair series of one visit: FGS1 photometry and AIRS extraction.

    ``fgs["dq"]`` (n,) and ``airs["dq"]`` (n, 282) hold the DQ bits of each value;
    ``stages`` the visit's stage record; ``reference_files`` the reference files the series
    were made from (:class:`spectramind.provenance.RefFile`).
    """

    t_fgs: np.ndarray
    fgs: dict[str, np.ndarray]
    t_airs: np.ndarray
    airs: dict[str, np.ndarray]
    stages: dict[str, str]
    n_cosmic: int
    masked_fraction: float
    reference_files: tuple[provenance.RefFile, ...] = ()


def pair_qa(pix: PixelProducts, engine: str = "numpy") -> dict[str, np.ndarray]:
    """Per-pair QA series of a CDS product: ``masked_fraction`` (all flagged pixels) and
    ``transient_pixels`` (flagged pixels outside the static dead/hot/bad-flat ones: cosmic-ray
    hits and saturation), each ``(n_pairs,)``; ``engine`` "numba": one parallel pass."""
    if engine == "numba":
        from spectramind.calibration import fast

        return fast.pair_qa(pix.dq, pix.static_dq)
    return {
        "masked_fraction": (pix.dq != 0).mean(axis=(1, 2)),
        "transient_pixels": ((pix.dq != 0) & (pix.static_dq == 0))
        .sum(axis=(1, 2))
        .astype(np.float64),
    }


def calibrate_visit(
    raw: Mapping[str, np.ndarray | io.SignalFile],
    maps: Mapping[str, io.CalibrationMaps],
    adc: Mapping[str, tuple[float, float]],
    axis: io.AxisInfo,
    cfg: CalibrationConfig,
    source: str = "axis_info.parquet",
    timings: dict[str, float] | None = None,
) -> VisitSeries:
    """Run every pixel stage and the photometry/trace stages for one visit."""
    t_fgs = pair_mid_times(axis.fgs_time_h, n_frames(raw["FGS1"]), source)
    t_airs = pair_mid_times(axis.airs_time_h, n_frames(raw["AIRS-CH0"]), source)
    airs_raw = raw["AIRS-CH0"]
    pf = run_pixel_stages(
        raw["FGS1"],
        maps["FGS1"],
        gain=adc["FGS1"][0],
        offset=adc["FGS1"][1],
        instrument="FGS1",
        cfg=cfg,
        timings=timings,
    )
    airs_batches = None
    if isinstance(airs_raw, io.SignalFile) and cfg.engine == "numba":
        # AIRS is decoded during the FGS1 photometry (the decoder releases the GIL); not
        # earlier, so that the FGS1 reads are freed first (peak memory)
        airs_batches = stream_signal(airs_raw)
    with timed(timings, "photometry"):
        fgs = photometry_fgs(pf, cfg)
    with timed(timings, "QA series"):
        fgs.update(pair_qa(pf, cfg.engine))
    n_cr, masked = pf.n_cosmic, [np.count_nonzero(pf.dq) / pf.dq.size]
    del pf
    pa = run_pixel_stages(
        airs_raw,
        maps["AIRS-CH0"],
        gain=adc["AIRS-CH0"][0],
        offset=adc["AIRS-CH0"][1],
        instrument="AIRS-CH0",
        cfg=cfg,
        timings=timings,
        batches=airs_batches,
    )
    with timed(timings, "trace"):
        airs = extract_airs(pa, cfg)
    with timed(timings, "QA series"):
        airs.update(pair_qa(pa, cfg.engine))
    # the propagated variance assumes 1 e-/count and one read per pair: scale it to the
    # measured white noise of each series (see phase.white_noise_scale)
    fgs["var"] = fgs["var"] * phase.white_noise_scale(fgs["flux"], fgs["var"])
    airs["var"] = airs["var"] * phase.white_noise_scale(airs["flux"], airs["var"])[None, :]
    stages = {**pa.stages, "photometry": provenance.COMPLETE, "trace": provenance.COMPLETE}
    return VisitSeries(
        t_fgs,
        fgs,
        t_airs,
        airs,
        stages,
        n_cr + pa.n_cosmic,
        float(np.mean([*masked, np.count_nonzero(pa.dq) / pa.dq.size])),
    )


# the phase stage lives in calibration.phase; re-exported for the callers of pipeline.build_cube
build_cube = phase.build_cube
