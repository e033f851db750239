"""Rule score_table: every score in one table (also printed to the log)."""

import logging

from spectramind.atomic import atomic_write
from spectramind.rulelog import log_to
from spectramind.workflow_io import score_table

log_to(snakemake.log[0])
table = score_table(snakemake.input)
logging.info("\n%s", table.to_string(index=False))
atomic_write(snakemake.output[0], lambda tmp: table.to_csv(tmp, index=False))
