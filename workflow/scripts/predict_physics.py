"""Rule predict_physics: the physics fits of a split in submission format."""

import logging

from spectramind.predict import Recalibration, submission_frame, write_submission
from spectramind.workflow_io import load_physics

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
ids, mu, sigma = load_physics(snakemake.input.fits)
if snakemake.input.recalibration:
    recal = Recalibration.from_json(snakemake.input.recalibration)
    mu, sigma = recal.apply(mu, sigma)
    logging.info("applied %s", recal)
write_submission(submission_frame(ids, mu, sigma), snakemake.output[0])
