"""Rule predict_model: a split's predictions from a checkpoint, in submission format."""

from spectramind.model.pipeline import predict_from_products
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
predict_from_products(
    cubes=snakemake.input.cubes,
    fits=snakemake.input.fits,
    model_path=snakemake.input.model,
    config_path=snakemake.input.model_config,
    device=snakemake.params.device,
    out=snakemake.output[0],
    threads=snakemake.threads,
)
