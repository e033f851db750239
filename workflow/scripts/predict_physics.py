"""Rule predict_physics: the physics fits of a split in submission format (recalibrated with
the train split's recalibration when there is one)."""

import logging

from spectramind.predict import submission_frame, write_submission
from spectramind.recalibration import Recalibration
from spectramind.rulelog import log_to
from spectramind.workflow_io import (
    load_physics,
    load_physics_features,
    write_prediction_provenance,
)

log_to(snakemake.log[0])
ids, mu, sigma = load_physics(snakemake.input.fits)
recal_file = snakemake.input.recalibration  # a path, or an empty list without one
if recal_file:
    recal = Recalibration.from_json(recal_file)
    mu, sigma = recal.apply(mu, sigma, load_physics_features(snakemake.input.fits))
    logging.info("applied the recalibration: %s", recal.reason)
write_submission(submission_frame(ids, mu, sigma), snakemake.output.predictions)
write_prediction_provenance(
    snakemake,
    method="physics",
    section="recalibration",
    inputs=[*snakemake.input.fits, *([recal_file] if recal_file else [])],
)
