"""Rule score: challenge score and diagnostics of one method on one split."""

import json
import logging

from spectramind.atomic import atomic_write_text
from spectramind.rulelog import log_to
from spectramind.workflow_io import score_predictions

log_to(snakemake.log[0])
wc = snakemake.wildcards
report = score_predictions(
    snakemake.input.predictions, snakemake.input.truth, wc.split, snakemake.input.train_labels
)
logging.info("%s on %s: score %.4f", wc.method, wc.split, report["score"])
atomic_write_text(
    snakemake.output[0], json.dumps({"method": wc.method, "split": wc.split, **report}, indent=2)
)
