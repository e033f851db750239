"""Rule predict_model: a split's predictions from a checkpoint, in submission format."""

from spectramind.model.pipeline import predict_from_products
from spectramind.rulelog import log_to
from spectramind.workflow_io import write_prediction_provenance

log_to(snakemake.log[0])
predict_from_products(
    cubes=snakemake.input.cubes,
    fits=snakemake.input.fits,
    model_path=snakemake.input.model,
    config_path=snakemake.input.model_config,
    device=snakemake.params.device,
    out=snakemake.output.predictions,
    threads=snakemake.threads,
)
write_prediction_provenance(
    snakemake,
    method="model",
    section="model",
    # model.pt (the weights, byte-identical between runs of one config), not model_config.json:
    # it records the training's wall times
    inputs=[
        snakemake.input.model,
        *snakemake.input.cubes,
        *snakemake.input.fits,
    ],
)
