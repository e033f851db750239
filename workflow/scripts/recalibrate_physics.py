"""Rule recalibrate_physics: fit the sigma (and mean) recalibration on the train split."""

import logging

from spectramind.predict import fit_recalibration
from spectramind.rulelog import log_to
from spectramind.workflow_io import load_physics, truth_for

log_to(snakemake.log[0])
rc = snakemake.params.recal
ids, mu, sigma = load_physics(snakemake.input.fits)
y = truth_for(snakemake.input.labels, "train", ids)
recal = fit_recalibration(mu, sigma, y, mean_bias=rc["mean"], bias_shrinkage=rc["bias_shrinkage"])
if not rc["sigma"]:
    recal = type(recal)(bias=recal.bias)
logging.info("recalibration on %d train planets: %s", len(ids), recal)
recal.to_json(snakemake.output[0])
