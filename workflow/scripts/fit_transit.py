"""Rules fit_transit and fit_transit_broad: physics fit of one planet's cube, under the
population prior (input ``population``) or, without one, the config's broad prior."""

import logging
from pathlib import Path

import xarray as xr

from spectramind import io
from spectramind.calibration.products import write_netcdf
from spectramind.physics.common import FitConfig
from spectramind.physics.population import FitPrior
from spectramind.physics.products import fit_dataset, fit_planet
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
planet = int(snakemake.wildcards.planet)
stars_file = Path(snakemake.input.stars)  # declared input (common.smk star_file)
star = io.star_row(io.read_star_info(stars_file), planet, stars_file)
with xr.open_dataset(snakemake.input.cube) as ds:
    cube = ds.load()
cfg = FitConfig.from_dict(snakemake.params.physics)
if "population" in snakemake.input.keys():
    prior = FitPrior.from_json(snakemake.input.population)
else:
    prior = cfg.broad_prior()
fit = fit_planet(cube, star, cfg, prior)
logging.info(
    "planet %s (%s prior): flag %s, white-light depth FGS1 %.6f AIRS-mean %.6f",
    planet,
    prior.source,
    fit.flag,
    fit.depth[0],
    fit.depth[1:].mean(),
)
if fit.reason:
    logging.warning("planet %s: fit failed (%s): fallback depth and sigma", planet, fit.reason)
write_netcdf(
    fit_dataset(planet, cube, fit, cfg, config=snakemake.config, prior=prior), snakemake.output[0]
)
