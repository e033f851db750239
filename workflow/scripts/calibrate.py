"""Rule calibrate: fused pixel stages, photometry and trace of one planet -> series."""

from spectramind.calibration.pipeline import CalibrationConfig
from spectramind.calibration.products import calibrate_planet, series_dataset, write_netcdf
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
planet = int(snakemake.wildcards.planet)
cfg = CalibrationConfig.from_dict(snakemake.params.cal)
visits = calibrate_planet(snakemake.params.root, snakemake.params.split, planet, cfg)
write_netcdf(series_dataset(planet, visits, cfg, config=snakemake.config), snakemake.output[0])
