"""Rule score_table: every score in one table (also printed to the log)."""

import logging

from spectramind.workflow_io import score_table

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
table = score_table(snakemake.input)
logging.info("\n%s", table.to_string(index=False))
table.to_csv(snakemake.output[0], index=False)
