"""Rule kaggle_bundle: wheel + checkpoint + config + workflow + kaggle-boot.sh in results/kaggle/."""

import logging

from spectramind.kaggle import build_bundle
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
sub = snakemake.params.submission
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
    checkpoint=checkpoint,
    log=logging.info,
)
