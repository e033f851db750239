"""Rule simulate_dataset: the embedded default dataset in the challenge layout."""

import logging
from pathlib import Path

from spectramind.rulelog import log_to
from spectramind.sim import World, simulate_dataset

log_to(snakemake.log[0])
sim = snakemake.params.sim
simulate_dataset(
    snakemake.params.out,
    n_train=sim["n_train"],
    n_test=sim["n_test"],
    seed=sim["seed"],
    time_scale=sim["time_scale"],
    second_visit_fraction=sim["second_visit_fraction"],
    world=World.from_mapping(sim.get("world")),
    log=logging.info,
)
for split_dir in (snakemake.output.train, snakemake.output.test):
    Path(split_dir).mkdir(parents=True, exist_ok=True)  # a split without planets: empty
