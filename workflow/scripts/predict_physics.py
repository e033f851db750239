"""Rule predict_physics: the physics fits of a split in submission format (recalibrated with
the train split's recalibration when there is one)."""

import logging

from spectramind.predict import submission_frame, write_submission
from spectramind.recalibration import Recalibration
from spectramind.rulelog import log_to
from spectramind.workflow_io import load_physics, load_physics_features

log_to(snakemake.log[0])
ids, mu, sigma = load_physics(snakemake.input.fits)
if snakemake.input.recalibration:
    recal = Recalibration.from_json(snakemake.input.recalibration)
    mu, sigma = recal.apply(mu, sigma, load_physics_features(snakemake.input.fits))
    logging.info("applied the recalibration: %s", recal.reason)
write_submission(submission_frame(ids, mu, sigma), snakemake.output[0])
