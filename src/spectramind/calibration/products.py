"""Reading a planet's inputs and writing calibration products (xarray / NetCDF4 through h5netcdf)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spectramind import conventions, io, provenance
from spectramind.atomic import atomic_write
from spectramind.calibration import detector, dq, pipeline

log = logging.getLogger(__name__)

SERIES_FGS_KEYS = (
    "flux",
    "var",
    "centroid_y",
    "centroid_x",
    "background",
    "masked_fraction",
    "transient_pixels",
)
SERIES_AIRS_KEYS = ("trace_y", "trace_width", "background", "masked_fraction", "transient_pixels")
#: attributes of the pixel DQ bits of the stage products
MASK_ATTRS = dq.cf_attributes("pixel data-quality bits")
#: NetCDF encoding of the DQ variables: mostly zeros, so deflate shrinks them to almost nothing
DQ_ENCODING = {"zlib": True, "complevel": 1}
#: units of the per-pair series (astropy.units strings)
SERIES_UNITS = {
    "flux": "count",
    "var": "count2",
    "centroid_y": "pixel",
    "centroid_x": "pixel",
    "trace_y": "pixel",
    "trace_width": "pixel",
    "background": "count / pixel",
    "masked_fraction": "1",
    "transient_pixels": "count",
}


def write_netcdf(ds: xr.Dataset, path: str | Path) -> None:
    """Write atomically: a partial file never carries the final name. Variables with CF
    ``flag_masks`` (the DQ bits) are deflated."""
    encoding = {k: DQ_ENCODING for k, v in ds.data_vars.items() if "flag_masks" in v.attrs}
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine=io.NETCDF_ENGINE, encoding=encoding))


#: the tables of the data root that the calibration of a visit reads
CALIBRATION_TABLES = ("adc_info.csv", "axis_info.parquet")


def visit_reference_files(
    root: str | Path,
    split: str,
    planet_id: int,
    visit: int,
    instruments: tuple[str, ...],
    tables: tuple[str, ...] = CALIBRATION_TABLES,
) -> tuple[provenance.RefFile, ...]:
    """The reference files one visit's calibration reads: the calibration maps of each of
    ``instruments`` (``{instrument}_calibration_{visit}/*.parquet``) and the ``tables`` of the
    data root, each named relative to ``root`` with its sha256."""
    root = Path(root)
    paths = [
        io.calibration_dir(root, split, planet_id, inst, visit) / f"{m}.parquet"
        for inst in instruments
        for m in io.CALIBRATION_MAPS
    ]
    paths += [root / t for t in tables]
    return tuple(provenance.reference_file(p, root) for p in paths)


def check_maps(
    maps: io.CalibrationMaps, cal_dir: str | Path, cfg: pipeline.CalibrationConfig
) -> None:
    """Refuse calibration maps that leave no pixel to calibrate (:class:`io.DataError` naming the map).

    A flat that is NaN, zero or below ``calibration.flat_minimum`` everywhere, or a dead map
    flagging every pixel, would mask the whole detector and turn every product into NaN.
    Single bad pixels are fine: they are masked (and a bad flat pixel is divided by 1).
    """
    cal_dir = Path(cal_dir)
    if detector.bad_flat_mask(maps.flat, minimum=cfg.flat_minimum).all():
        raise io.DataError(
            cal_dir / "flat.parquet",
            f"no usable flat-field value: all {maps.flat.size} pixels are NaN, zero or below "
            f"calibration.flat_minimum={cfg.flat_minimum}",
        )
    if maps.dead.all():
        raise io.DataError(
            cal_dir / "dead.parquet", f"all {maps.dead.size} pixels are flagged dead"
        )


def fill_dead_bins(flux: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interpolate the AIRS bins that have no finite sample at all (a detector column dead
    from top to bottom) from their nearest finite neighbours along wavelength.

    flux, var: (n_pairs, n_bins). Each dead bin gets, per pair, the linear interpolation of
    the flux of the nearest live bins on either side (the nearest one at the ends) and their
    interpolated variance (a neighbour's noise, not the smaller variance of a mean).
    Returns new flux, var and the bool mask (n_bins,) of the filled bins; inputs are not
    modified. Raises ValueError when no bin has a finite sample.
    """
    dead = ~np.isfinite(flux).any(axis=0)
    if not dead.any():
        return flux, var, dead
    if dead.all():
        raise ValueError("no AIRS bin has a finite flux sample (every spectral column is masked)")
    good, idx = np.flatnonzero(~dead), np.flatnonzero(dead)
    right = np.searchsorted(good, idx)
    lo = good[np.clip(right - 1, 0, len(good) - 1)]
    hi = good[np.clip(right, 0, len(good) - 1)]
    w = np.where(hi == lo, 0.0, (idx - lo) / np.maximum(hi - lo, 1)).astype(flux.dtype)
    out_f, out_v = flux.copy(), var.copy()
    out_f[:, idx] = (1 - w) * flux[:, lo] + w * flux[:, hi]
    out_v[:, idx] = (1 - w) * var[:, lo] + w * var[:, hi]
    return out_f, out_v, dead


def read_visit(
    root: str | Path, split: str, planet_id: int, visit: int
) -> tuple[dict[str, np.ndarray], dict[str, io.CalibrationMaps]]:
    """Raw frames (decoded whole) and calibration maps of both instruments for one visit."""
    signals, maps = open_visit(root, split, planet_id, visit)
    return {i: io.read_frames(s) for i, s in signals.items()}, maps


def open_visit(
    root: str | Path, split: str, planet_id: int, visit: int
) -> tuple[dict[str, io.SignalFile], dict[str, io.CalibrationMaps]]:
    """Like :func:`read_visit`, but the signals are opened and checked, not decoded: the
    chain streams them (:func:`pipeline.run_pixel_stages`)."""
    raw = {
        i: io.open_signal(io.signal_path(root, split, planet_id, i, visit), i)
        for i in io.INSTRUMENTS
    }
    maps = {
        i: io.read_calibration(io.calibration_dir(root, split, planet_id, i, visit), i)
        for i in io.INSTRUMENTS
    }
    return raw, maps


def calibrate_planet(
    root: str | Path, split: str, planet_id: int, cfg: pipeline.CalibrationConfig
) -> list[pipeline.VisitSeries]:
    """Run the fused pixel, photometry and trace stages on every visit of a planet."""
    root = Path(root)
    adc = io.read_adc_info(root / "adc_info.csv")
    axis = io.read_axis_info(root / "axis_info.parquet")
    out = []
    for v in io.list_visits(root, split, planet_id):
        raw, maps = open_visit(root, split, planet_id, v)
        for inst in io.INSTRUMENTS:
            check_maps(maps[inst], io.calibration_dir(root, split, planet_id, inst, v), cfg)
        log.info(
            "planet %s visit %d: AIRS %s, FGS1 %s frames",
            planet_id,
            v,
            raw["AIRS-CH0"].n_frames,
            raw["FGS1"].n_frames,
        )
        try:  # the signals are checked frame by frame as they are decoded (io.iter_signal)
            series = pipeline.calibrate_visit(
                raw, maps, adc, axis, cfg, source=str(root / "axis_info.parquet")
            )
        except io.DataError as exc:
            if exc.path not in {s.path for s in raw.values()}:
                raise
            raise io.DataError(exc.path, f"visit {v}: {exc.problem}") from None
        try:
            flux, var, filled = fill_dead_bins(series.airs["flux"], series.airs["var"])
        except ValueError as exc:
            raise io.DataError(
                io.calibration_dir(root, split, planet_id, "AIRS-CH0", v),
                f"{exc}: check dead.parquet and flat.parquet",
            ) from None
        if filled.any():
            log.warning(
                "planet %s visit %d: AIRS bins %s have no valid pixel in any frame (dead detector "
                "columns): interpolated from their neighbours, flagged in airs_filled",
                planet_id,
                v,
                [f"wl_{j + 2}" for j in np.flatnonzero(filled)],
            )
        series = replace(
            series,
            airs={
                **series.airs,
                "flux": flux,
                "var": var,
                "filled": filled,
                "dq": series.airs["dq"] | np.where(filled, dq.FILLED, 0).astype(dq.DTYPE)[None],
            },
            reference_files=visit_reference_files(root, split, planet_id, v, io.INSTRUMENTS),
        )
        log.info(
            "planet %s visit %d: %d cosmic rays flagged, %.3f%% pixels masked",
            planet_id,
            v,
            series.n_cosmic,
            100 * series.masked_fraction,
        )
        out.append(series)
    return out


def series_dataset(
    planet_id: int,
    visits: list[pipeline.VisitSeries],
    cfg: pipeline.CalibrationConfig,
    *,
    config: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Per-pair series of all visits (photometry + trace products) as one Dataset, with the
    provenance of every visit (``config``: the whole run config, for ``config_sha256``)."""
    n_f = {len(v.t_fgs) for v in visits}
    n_a = {len(v.t_airs) for v in visits}
    if len(n_f) != 1 or len(n_a) != 1:
        raise ValueError(
            f"planet {planet_id}: visits have different frame counts (FGS1 {n_f}, AIRS {n_a})"
        )
    return xr.Dataset(
        _series_variables(visits),
        coords={"visit": np.arange(len(visits))},
        attrs={
            **conventions.global_attributes(
                title=f"Calibrated per-frame-pair series of planet {planet_id}",
                history=f"calibrate (calibration config sha256 {cfg.digest()[:12]})",
                comment="t_fgs, t_airs in hours since the visit start",
            ),
            "planet_id": int(planet_id),
            **provenance.attributes(
                section="calibration",
                section_config=cfg,
                stages=[v.stages for v in visits],
                config=config,
                reference_files=[r for v in visits for r in v.reference_files],
            ),
        },
    )


def _series_variables(visits: list[pipeline.VisitSeries]) -> dict[str, Any]:
    """The data variables of :func:`series_dataset`."""
    fgs = {
        f"fgs_{k}": (
            ("visit", "fgs_pair"),
            np.stack([v.fgs[k] for v in visits]),
            {"units": SERIES_UNITS[k]},
        )
        for k in SERIES_FGS_KEYS
    }
    airs = {
        f"airs_{k}": (
            ("visit", "airs_pair"),
            np.stack([v.airs[k] for v in visits]),
            {"units": SERIES_UNITS[k]},
        )
        for k in SERIES_AIRS_KEYS
    }
    return {
        **fgs,
        **airs,
        "airs_flux": (
            ("visit", "airs_pair", "airs_bin"),
            np.stack([v.airs["flux"] for v in visits]),
            {
                "units": "count",
                "long_name": "extracted flux per frame pair, wl_2..wl_283 order",
            },
        ),
        "airs_var": (
            ("visit", "airs_pair", "airs_bin"),
            np.stack([v.airs["var"] for v in visits]),
            {"units": "count2", "long_name": "variance of airs_flux"},
        ),
        "fgs_dq": (
            ("visit", "fgs_pair"),
            np.stack([_dq(v.fgs, v.fgs["flux"].shape) for v in visits]),
            dq.cf_attributes("data-quality bits of fgs_flux (OR over the aperture)"),
        ),
        "airs_dq": (
            ("visit", "airs_pair", "airs_bin"),
            np.stack([_dq(v.airs, v.airs["flux"].shape) for v in visits]),
            dq.cf_attributes("data-quality bits of airs_flux (OR over the extraction rows)"),
        ),
        "airs_filled": (
            ("visit", "airs_bin"),
            np.stack(
                [
                    np.asarray(
                        v.airs.get("filled", np.zeros(v.airs["flux"].shape[1], bool)),
                        dtype=np.uint8,
                    )
                    for v in visits
                ]
            ),
            {
                "long_name": "bin interpolated from its neighbours (no valid pixel)",
                "flag_values": np.array([0, 1], dtype=np.uint8),
                "flag_meanings": "measured interpolated_from_neighbours",
            },
        ),
        "t_fgs": (("visit", "fgs_pair"), np.stack([v.t_fgs for v in visits]), {"units": "h"}),
        "t_airs": (
            ("visit", "airs_pair"),
            np.stack([v.t_airs for v in visits]),
            {"units": "h"},
        ),
        "n_cosmic": (
            ("visit",),
            [v.n_cosmic for v in visits],
            {"units": "count", "long_name": "cosmic-ray hits flagged"},
        ),
        "masked_fraction": (
            ("visit",),
            [v.masked_fraction for v in visits],
            {"units": "1", "long_name": "fraction of pixels masked"},
        ),
    }


def _dq(series: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The DQ bits of a series dict (zeros for series made before the bits existed)."""
    return np.asarray(series.get("dq", np.zeros(shape, dq.DTYPE)), dq.DTYPE)


def series_from_dataset(ds: xr.Dataset) -> list[pipeline.VisitSeries]:
    """Inverse of :func:`series_dataset`; every visit gets the product's reference files."""
    stages = provenance.stages_from_attrs(ds.attrs)
    if len(stages) != ds.sizes["visit"]:
        raise ValueError(f"{len(stages)} stage records for {ds.sizes['visit']} visits")
    refs = provenance.reference_files_from_attrs(ds.attrs)
    out = []
    for v in range(ds.sizes["visit"]):
        d = ds.isel(visit=v)
        out.append(
            pipeline.VisitSeries(
                t_fgs=d["t_fgs"].values,
                fgs={
                    **{k: d[f"fgs_{k}"].values for k in SERIES_FGS_KEYS},
                    **({"dq": d["fgs_dq"].values} if "fgs_dq" in d else {}),
                },
                t_airs=d["t_airs"].values,
                airs={
                    "flux": d["airs_flux"].values,
                    "var": d["airs_var"].values,
                    **{k: d[f"airs_{k}"].values for k in SERIES_AIRS_KEYS},
                    **({"dq": d["airs_dq"].values} if "airs_dq" in d else {}),
                    **(
                        {"filled": d["airs_filled"].values.astype(bool)}
                        if "airs_filled" in d
                        else {}
                    ),
                },
                stages=dict(stages[v]),
                n_cosmic=int(d["n_cosmic"]),
                masked_fraction=float(d["masked_fraction"]),
                reference_files=refs,
            )
        )
    return out


def stage_dataset(
    stage: str,
    root: str | Path,
    split: str,
    planet_id: int,
    instrument: str,
    visit: int,
    cfg: pipeline.CalibrationConfig,
    *,
    config: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """The product of one stage for one instrument and visit (for the per-stage rules;
    ``config``: the whole run config, for ``config_sha256``).

    adc/dark/flat: per-read pixel arrays; cds: per-pair pixels with variance and mask;
    photometry (FGS1) / trace (AIRS): per-pair series.
    """
    if stage not in ("adc", "dark", "flat", "cds", "photometry", "trace"):
        raise ValueError(f"unknown stage {stage!r}")
    root = Path(root)
    adc = io.read_adc_info(root / "adc_info.csv")
    raw = io.open_signal(io.signal_path(root, split, planet_id, instrument, visit), instrument)
    maps = io.read_calibration(
        io.calibration_dir(root, split, planet_id, instrument, visit), instrument
    )
    check_maps(maps, io.calibration_dir(root, split, planet_id, instrument, visit), cfg)
    gain, offset = adc[instrument]
    pix = pipeline.run_pixel_stages(
        raw,
        maps,
        gain=gain,
        offset=offset,
        instrument=instrument,
        cfg=cfg,
        stop_after=stage if stage in pipeline.PIXEL_STAGES else "cds",
    )
    attrs = {
        **conventions.global_attributes(
            title=f"{instrument} {stage} stage product of planet {planet_id}, visit {visit}",
            history=f"{stage} stage (calibration config sha256 {cfg.digest()[:12]})",
        ),
        "planet_id": int(planet_id),
        "instrument": instrument,
        "visit": int(visit),
        "stage": stage,
        **provenance.attributes(
            section="calibration",
            section_config=cfg,
            stages=[_stage_product_record(stage, pix.stages)],
            config=config,
            reference_files=visit_reference_files(
                root, split, planet_id, visit, (instrument,), tables=("adc_info.csv",)
            ),
        ),
    }
    return _stage_product(stage, instrument, pix, cfg, attrs)


def _stage_product(
    stage: str,
    instrument: str,
    pix: pipeline.PixelProducts,
    cfg: pipeline.CalibrationConfig,
    attrs: Mapping[str, Any],
) -> xr.Dataset:
    """The Dataset of one stage's product (:func:`stage_dataset`)."""
    if stage in ("adc", "dark", "flat"):
        dims = ("read", "y", "x")
        return xr.Dataset(
            {
                "counts": (dims, pix.flux, {"units": "count"}),
                "mask": (dims, pix.dq.astype(dq.DTYPE), MASK_ATTRS),
            },
            attrs=attrs,
        )
    if stage == "cds":
        dims = ("pair", "y", "x")
        return xr.Dataset(
            {
                "flux": (dims, pix.flux, {"units": "count"}),
                "variance": (dims, pix.var, {"units": "count2"}),
                "mask": (dims, pix.dq.astype(dq.DTYPE), MASK_ATTRS),
            },
            attrs=attrs,
        )
    products: Mapping[str, np.ndarray]
    if stage == "photometry":
        if instrument != "FGS1":
            raise ValueError("photometry is the FGS1 stage")
        products = pipeline.photometry_fgs(pix, cfg)
        return xr.Dataset(
            {k: (("pair",), v, _series_attrs(k)) for k, v in products.items()},
            attrs=attrs,
        )
    if instrument != "AIRS-CH0":
        raise ValueError("trace extraction is the AIRS-CH0 stage")
    products = pipeline.extract_airs(pix, cfg)
    return xr.Dataset(
        {
            k: (("pair", "bin") if v.ndim == 2 else ("pair",), v, _series_attrs(k))
            for k, v in products.items()
        },
        attrs=attrs,
    )


def _stage_product_record(stage: str, pixel_stages: Mapping[str, str]) -> dict[str, str]:
    """Stage record of a per-stage product: the pixel stages run, then photometry / trace."""
    if stage in pipeline.PIXEL_STAGES:
        return dict(pixel_stages)
    return {**pixel_stages, stage: provenance.COMPLETE}


def _series_attrs(key: str) -> dict[str, Any]:
    """Attributes of a per-pair series variable: its units, or the DQ bits' CF flags."""
    if key == "dq":
        return dq.cf_attributes("data-quality bits of flux")
    return {"units": SERIES_UNITS[key]}
