"""Rule predict_constant: the mean-depth baseline for a split."""

import logging

from spectramind.predict import constant_baseline, submission_frame, write_submission
from spectramind.rulelog import log_to
from spectramind.workflow_io import labels_array, write_prediction_provenance

log_to(snakemake.log[0])
ids = snakemake.params.planets
mu, sigma = constant_baseline(labels_array(snakemake.input.labels, "train"), len(ids))
logging.info("constant depth %.6f, sigma %.6f", mu[0, 0], sigma[0, 0])
write_submission(submission_frame(ids, mu, sigma), snakemake.output.predictions)
write_prediction_provenance(
    snakemake,
    method="constant",
    section="constant",
    section_config={"labels_split": "train"},
    inputs=[snakemake.input.labels],  # the raw files only list the split's planets
)
