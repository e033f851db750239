"""Rule predict_model: a split's predictions from a checkpoint, in submission format."""

from spectramind import provenance
from spectramind.model.pipeline import predict_from_products
from spectramind.rulelog import log_to

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
record = provenance.prediction_record(
    method="model",
    split=snakemake.wildcards.split,
    section="model",
    section_config=snakemake.config["model"],
    config=snakemake.config,
    inputs=[
        snakemake.input.model,
        snakemake.input.model_config,
        *snakemake.input.cubes,
        *snakemake.input.fits,
    ],
)
provenance.write_record(record, snakemake.output.provenance)
