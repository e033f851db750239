"""Rule predict_physics: the physics fits of a split in submission format."""

import logging

from spectramind.predict import Recalibration, submission_frame, write_submission
from spectramind.rulelog import log_to
from spectramind.workflow_io import load_physics

log_to(snakemake.log[0])
ids, mu, sigma = load_physics(snakemake.input.fits)
if snakemake.input.recalibration:
    recal = Recalibration.from_json(snakemake.input.recalibration)
    mu, sigma = recal.apply(mu, sigma)
    logging.info("applied %s", recal)
write_submission(submission_frame(ids, mu, sigma), snakemake.output[0])
