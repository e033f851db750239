"""Rule predict_constant: the mean-depth baseline for a split."""

import logging

from spectramind.predict import constant_baseline, submission_frame, write_submission
from spectramind.workflow_io import labels_array

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
ids = snakemake.params.planets
mu, sigma = constant_baseline(labels_array(snakemake.input.labels, "train"), len(ids))
logging.info("constant depth %.6f, sigma %.6f", mu[0, 0], sigma[0, 0])
write_submission(submission_frame(ids, mu, sigma), snakemake.output[0])
