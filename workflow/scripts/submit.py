"""Rule submit: validate the configured method's predictions and write results/submission.csv."""

import json
import logging

from spectramind.rulelog import log_to
from spectramind.submission import write_validated

log_to(snakemake.log[0])
sub = dict(snakemake.params.submission)
if sub["method"] == "auto":
    with open(snakemake.input.choice) as fh:
        choice = json.load(fh)
    sub["method"] = choice["method"]
    logging.info("submission.method auto: %s (%s)", choice["method"], choice["reason"])
df = write_validated(
    snakemake.input[sub["method"]]
    if "choice" in snakemake.input.keys()
    else snakemake.input.predictions,
    snakemake.output[0],
    snakemake.input.schema,
    planets=snakemake.params.planets,
)
logging.info(
    "%s predictions of the %s split: %d planets, valid (%s) -> %s",
    sub["method"],
    sub["split"],
    len(df),
    snakemake.input.schema,
    snakemake.output[0],
)
