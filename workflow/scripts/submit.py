"""Rule submit: validate the configured method's predictions and write results/submission.csv."""

import json
import logging

from spectramind import provenance
from spectramind.rulelog import log_to
from spectramind.submission import write_validated

log_to(snakemake.log[0])
sub = dict(snakemake.params.submission)
if sub["method"] == "auto":
    with open(snakemake.input.choice) as fh:
        choice = json.load(fh)
    sub["method"] = choice["method"]
    logging.info("submission.method auto: %s (%s)", choice["method"], choice["reason"])
auto = "choice" in snakemake.input.keys()
predictions = snakemake.input[sub["method"]] if auto else snakemake.input.predictions
record = provenance.read_record(
    snakemake.input[f"{sub['method']}_provenance"] if auto else snakemake.input.provenance
)
df = write_validated(
    predictions,
    snakemake.output.submission,
    snakemake.input.schema,
    planets=snakemake.params.planets,
)
logging.info(
    "%s predictions of the %s split: %d planets, valid (%s) -> %s",
    sub["method"],
    sub["split"],
    len(df),
    snakemake.input.schema,
    snakemake.output.submission,
)
provenance.write_record(
    provenance.submitted_record(record, predictions), snakemake.output.provenance
)
