"""Rule physics_population: the fit's priors learned on the train split's broad fits."""

import logging

import xarray as xr

from spectramind.physics.common import FitConfig
from spectramind.physics.products import learn_prior_from_fits
from spectramind.rulelog import log_to
from spectramind.workflow_io import labels_array

log_to(snakemake.log[0])
fits = []
for path in snakemake.input.fits:
    with xr.open_dataset(path) as ds:
        fits.append(ds.load())
broad = FitConfig.from_dict(snakemake.params.physics).broad_prior()
prior = learn_prior_from_fits(fits, labels_array(snakemake.input.labels, "train"), broad)
for k in prior.mean:
    if prior.n_planets[k] < 2:
        logging.warning(
            "%s: %d of %d train fits measured it: the broad prior kept (mean %.5g, sd %.5g)",
            k,
            prior.n_planets[k],
            len(fits),
            prior.mean[k],
            prior.sd[k],
        )
        continue
    logging.info(
        "%s: population mean %.5g, sd %.5g (%d of %d train fits)",
        k,
        prior.mean[k],
        prior.sd[k],
        prior.n_planets[k],
        len(fits),
    )
prior.to_json(snakemake.output[0])
