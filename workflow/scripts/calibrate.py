"""Rule calibrate: fused pixel stages, photometry and trace of one planet -> series."""

import logging

from spectramind.calibration.pipeline import CalibrationConfig
from spectramind.calibration.products import calibrate_planet, series_dataset, write_netcdf

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
planet = int(snakemake.wildcards.planet)
cfg = CalibrationConfig.from_dict(snakemake.params.cal)
visits = calibrate_planet(snakemake.params.root, snakemake.params.split, planet, cfg)
write_netcdf(series_dataset(planet, visits, cfg), snakemake.output[0])
