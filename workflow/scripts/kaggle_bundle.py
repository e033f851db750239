"""Rule kaggle_bundle: wheels + checkpoint + config + workflow + fallback + kaggle-boot.sh."""

import logging

from spectramind.kaggle import build_bundle
from spectramind.rulelog import log_to
from spectramind.workflow_io import labels_array

log_to(snakemake.log[0])
sub, kaggle = snakemake.params.submission, snakemake.params.kaggle
checkpoint = (
    {k: getattr(snakemake.input, k) for k in ("model", "model_config")}
    if "model" in snakemake.input.keys()
    else None
)
build_bundle(
    snakemake.output[0],
    project=snakemake.params.project,
    config=snakemake.config,
    method=sub["method"],
    boot_script=snakemake.input.boot,
    train_labels=labels_array(snakemake.input.labels, "train"),
    image_packages=snakemake.input.image_packages,
    pythons=kaggle["python"],
    wheelhouse=kaggle["wheelhouse"],
    checkpoint=checkpoint,
    log=logging.info,
)
