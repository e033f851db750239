"""Rule physics_population: the fit's priors learned on the train split's broad fits."""

import logging

import xarray as xr

from spectramind.physics.common import FitConfig
from spectramind.physics.population import learn_prior
from spectramind.physics.products import prior_measurements
from spectramind.rulelog import log_to
from spectramind.workflow_io import labels_array

log_to(snakemake.log[0])
measured = []
for path in snakemake.input.fits:
    with xr.open_dataset(path) as ds:  # the attributes only: no variable is read
        measured.append(prior_measurements(ds))
broad = FitConfig.from_dict(snakemake.params.physics).broad_prior()
prior = learn_prior(measured, labels_array(snakemake.input.labels, "train"), broad)
for k in prior.mean:
    if prior.n_planets[k] < 2:
        logging.warning(
            "%s: %d of %d train fits measured it: the broad prior kept (mean %.5g, sd %.5g)",
            k,
            prior.n_planets[k],
            len(measured),
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
        len(measured),
    )
prior.to_json(snakemake.output[0])
