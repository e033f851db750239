"""Rule phase: time grid, transit detection, normalisation -> the per-planet cube."""

import logging
from pathlib import Path

import xarray as xr

from spectramind import io, provenance
from spectramind.calibration.phase import build_cube
from spectramind.calibration.pipeline import CalibrationConfig
from spectramind.calibration.products import series_from_dataset, write_netcdf
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
planet, root = int(snakemake.wildcards.planet), Path(snakemake.params.root)
cfg = CalibrationConfig.from_dict(snakemake.params.cal)
stars_file = Path(snakemake.input.stars)  # declared inputs (common.smk star_file, wavelength_file)
star = io.star_row(io.read_star_info(stars_file), planet, stars_file)
with xr.open_dataset(snakemake.input.series) as ds:
    visits = series_from_dataset(ds.load())
wavelengths = Path(snakemake.input.wavelengths)
cube = build_cube(
    planet,
    visits,
    star,
    io.read_wavelengths(wavelengths),
    cfg,
    config=snakemake.config,
    reference_files=[provenance.reference_file(wavelengths, root)],
)
logging.info(
    "planet %s: ingress %s h, egress %s h, S/N %s",
    planet,
    cube.ingress.values,
    cube.egress.values,
    cube.transit_snr.values,
)
write_netcdf(cube, snakemake.output[0])
