"""Rule recalibrate_physics: choose, fit and score (out of fold) the physics recalibration on
the train split."""

import logging

from spectramind.recalibration import fit_recalibration
from spectramind.rulelog import log_to
from spectramind.workflow_io import load_physics, load_physics_features, truth_for

log_to(snakemake.log[0])
ids, mu, sigma = load_physics(snakemake.input.fits)
features = load_physics_features(snakemake.input.fits)
y = truth_for(snakemake.input.labels, "train", ids)
recal = fit_recalibration(mu, sigma, y, features, snakemake.params.recal)
for instrument, model, shrinkage, score in recal.cv:
    logging.info("K-fold %s %s shrinkage %g: %.5f", instrument, model, shrinkage, score)
logging.info(
    "recalibration on %d train planets (%d folds): %s; out-of-fold score %s (raw fits %.4f)",
    len(ids),
    recal.folds,
    recal.reason,
    "n/a" if recal.oof_score is None else f"{recal.oof_score:.4f}",
    recal.raw_score,
)
recal.to_json(snakemake.output[0])
