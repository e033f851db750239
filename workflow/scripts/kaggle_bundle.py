"""Rule kaggle_bundle: wheels + checkpoint + config + workflow + fallback + kaggle-boot.sh."""

import json
import logging

from spectramind.kaggle import build_bundle
from spectramind.rulelog import log_to
from spectramind.workflow_io import labels_array

log_to(snakemake.log[0])
kaggle = snakemake.params.kaggle
method = snakemake.params.submission["method"]
if method == "auto":
    with open(snakemake.input.choice) as fh:
        method = json.load(fh)["method"]
checkpoint = (
    {k: getattr(snakemake.input, k) for k in ("model", "model_config")}
    if "model" in snakemake.input.keys() and method == "model"
    else None
)
build_bundle(
    snakemake.output[0],
    project=snakemake.params.project,
    config=snakemake.config,
    method=method,
    boot_script=snakemake.input.boot,
    train_labels=labels_array(snakemake.input.labels, "train"),
    image_packages=snakemake.input.image_packages,
    pythons=kaggle["python"],
    wheelhouse=kaggle["wheelhouse"],
    checkpoint=checkpoint,
    population=snakemake.input.population,
    recalibration=snakemake.input.recalibration or None,  # none: no train labels or disabled
    log=logging.info,
)
