"""Rule diagnose_planet: raw frames, light curves, noise, residual map, QA and spectrum figures."""

import logging

from spectramind.diagnostics import diagnose_planet
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
logging.getLogger("matplotlib").setLevel(logging.WARNING)
diagnose_planet(
    planet=int(snakemake.wildcards.planet),
    root=snakemake.params.root,
    split=snakemake.params.split,
    cube=snakemake.input.cube,
    fit=snakemake.input.fit,
    truth=snakemake.input.truth or None,
    predictions={m: getattr(snakemake.input, m) for m in snakemake.params.methods},
    out_frames=snakemake.output.frames,
    out_light_curves=snakemake.output.light_curves,
    out_spectrum=snakemake.output.spectrum,
    out_noise=snakemake.output.noise,
    out_residual_map=snakemake.output.residual_map,
    out_calibration_qa=snakemake.output.calibration_qa,
    drift_degree=snakemake.params.drift_max_order,
)
