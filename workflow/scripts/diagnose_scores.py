"""Rule diagnose_scores: the score table as an HTML page for the report."""

import logging
from pathlib import Path

import pandas as pd

from spectramind.diagnostics import score_table_html
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
table = pd.read_csv(snakemake.input[0])
Path(snakemake.output[0]).write_text(score_table_html(table))
logging.info("%d rows", len(table))
