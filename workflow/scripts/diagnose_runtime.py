"""Rule diagnose_runtime: wall and CPU time per rule from the benchmark files."""

import logging

from spectramind.diagnostics import diagnose_runtime
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
logging.getLogger("matplotlib").setLevel(logging.WARNING)
summary = diagnose_runtime(benchmarks=snakemake.params.benchmarks, out=snakemake.output[0])
logging.info("\n%s", summary.to_string(index=False))
