"""Rule diagnose_training: the training curve (loss and scores per epoch) of the model."""

import logging

from spectramind.diagnostics import diagnose_training
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
logging.getLogger("matplotlib").setLevel(logging.WARNING)
history = diagnose_training(history=snakemake.input[0], out=snakemake.output[0])
logging.info("%d epochs x members, last row:\n%s", len(history), history.tail(1).to_string())
