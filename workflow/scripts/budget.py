"""Rule budget: project the run's benchmarks to budget.planets planets, fail if over budget."""

import logging

from spectramind import budget
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
cfg = snakemake.params.budget
if snakemake.params.time_scale > 1:
    logging.warning(
        "measured on planets simulated with time_scale=%d (%dx fewer frames than "
        "the challenge's): the projection is not the full-size one",
        snakemake.params.time_scale,
        snakemake.params.time_scale,
    )
bench = budget.read_benchmarks(snakemake.params.benchmarks)
table = budget.project(
    bench,
    n_planets=cfg["planets"],
    cores=cfg["cores"],
    planets=snakemake.params.planets,
    threads=budget.threads_of_rules(snakemake.params.events),
    exclude=[*cfg["exclude"], snakemake.rule],
)
logging.info(
    "\n%s", budget.summary(table, n_planets=cfg["planets"], cores=cfg["cores"], hours=cfg["hours"])
)
budget.write_table(table, snakemake.output[0])
budget.check_budget(table, cfg["hours"])
