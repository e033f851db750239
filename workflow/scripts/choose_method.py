"""Rule choose_method: submission.method auto -> the method with the best out-of-fold train score."""

import json
import logging

from spectramind.atomic import atomic_write_text
from spectramind.rulelog import log_to
from spectramind.selection import choose_method, oof_constant, oof_physics
from spectramind.workflow_io import load_physics, load_physics_features, truth_for

log_to(snakemake.log[0])
p = snakemake.params
ids, mu, sigma = load_physics(snakemake.input.fits)
y = truth_for(snakemake.input.labels, "train", ids)
with open(snakemake.input.model_config) as fh:
    model_oof = json.load(fh).get("training", {}).get("oof_score")
scores = {
    "constant": oof_constant(y, folds=p.folds, seed=p.seed),
    "physics": oof_physics(
        mu, sigma, y, p.recal, features=load_physics_features(snakemake.input.fits)
    ),
    "model": model_oof,
}
choice = choose_method(scores)
logging.info(
    "submission.method auto on %d train planets: %s (%s)", len(ids), choice.method, choice.reason
)
atomic_write_text(snakemake.output[0], json.dumps(choice.to_dict(), indent=2) + "\n")
