"""Rule train_model: train on the train split -> model.pt (state_dict) + model_config.json + history.csv."""

from spectramind.model.pipeline import train_from_products
from spectramind.rulelog import log_to

log_to(snakemake.log[0], echo=["spectramind.model"], prefix="train_model: ")
train_from_products(
    cubes=snakemake.input.cubes,
    fits=snakemake.input.fits,
    labels=snakemake.input.labels,
    model_params=snakemake.params.model,
    loss_params=snakemake.params.loss,
    threads=snakemake.threads,
    out_model=snakemake.output.model,
    out_config=snakemake.output.config,
    out_history=snakemake.output.history,
    config=snakemake.config,
)
