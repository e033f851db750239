"""Rule diagnose_split: per-bin score and RMSE, z-scores and coverage of every method on a split."""

import logging

from spectramind.diagnostics import diagnose_split
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
logging.getLogger("matplotlib").setLevel(logging.WARNING)
summary = diagnose_split(
    split=snakemake.wildcards.split,
    predictions={m: getattr(snakemake.input, m) for m in snakemake.params.methods},
    truth=snakemake.input.truth,
    train_labels=snakemake.input.train_labels,
    wavelengths=snakemake.input.wavelengths,
    out_per_bin=snakemake.output.per_bin,
    out_zscores=snakemake.output.zscores,
    out_coverage=snakemake.output.coverage,
)
for method, s in summary.items():
    logging.info(
        "%s: score %.4f, std(z) %.2f, 1-sigma coverage %.3f",
        method,
        s["score"],
        s["z_std"],
        s["coverage_1sigma"],
    )
