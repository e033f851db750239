"""Rule kaggle_bundle: wheel + checkpoint + config + workflow + kaggle-boot.sh in results/kaggle/."""

import json
import logging

from spectramind.kaggle import build_bundle
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
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
    checkpoint=checkpoint,
    log=logging.info,
)
