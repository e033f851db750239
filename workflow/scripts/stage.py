"""Rules adc, dark, flat, cds, photometry, extract_trace: one stage's product."""

from spectramind.calibration.pipeline import CalibrationConfig
from spectramind.calibration.products import stage_dataset, write_netcdf
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
wc = snakemake.wildcards
instrument = getattr(
    wc, "instrument", "FGS1" if snakemake.params.stage == "photometry" else "AIRS-CH0"
)
ds = stage_dataset(
    snakemake.params.stage,
    snakemake.params.root,
    snakemake.params.split,
    int(wc.planet),
    instrument,
    int(wc.visit),
    CalibrationConfig.from_dict(snakemake.params.cal),
    config=snakemake.config,
)
write_netcdf(ds, snakemake.output[0])
