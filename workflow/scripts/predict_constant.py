"""Rule predict_constant: the mean-depth baseline for a split."""

import logging

from spectramind import provenance
from spectramind.predict import constant_baseline, submission_frame, write_submission
from spectramind.rulelog import log_to
from spectramind.workflow_io import labels_array

log_to(snakemake.log[0])
ids = snakemake.params.planets
mu, sigma = constant_baseline(labels_array(snakemake.input.labels, "train"), len(ids))
logging.info("constant depth %.6f, sigma %.6f", mu[0, 0], sigma[0, 0])
write_submission(submission_frame(ids, mu, sigma), snakemake.output.predictions)
record = provenance.prediction_record(
    method="constant",
    split=snakemake.wildcards.split,
    section="constant",
    section_config={"labels_split": "train"},
    config=snakemake.config,
    inputs=[snakemake.input.labels],  # the raw files only list the split's planets
)
provenance.write_record(record, snakemake.output.provenance)
