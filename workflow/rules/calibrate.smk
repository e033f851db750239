
rule calibrate_series:
    """Fused pixel chain (ADC .. CDS), photometry and trace of one planet, all visits: the
    series alone (rule calibrate makes it with the cube, in one job)."""
    input:
        raw_inputs,
    output:
        "results/series/{planet}.nc",
    log:
        "results/logs/calibrate/{planet}.log",
    benchmark:
        "results/benchmarks/calibrate_series/{planet}.tsv"
    conda:
        "../../envs/calibrate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        **stage_params(),
    script:
        "../scripts/calibrate.py"


rule phase:
    """Common time grid, transit detection and normalisation -> the per-planet cube."""
    input:
        series="results/series/{planet}.nc",
        stars=star_file,
        wavelengths=wavelength_file,
    output:
        "results/cubes/{planet}.nc",
    log:
        "results/logs/phase/{planet}.log",
    benchmark:
        "results/benchmarks/phase/{planet}.tsv"
    conda:
        "../../envs/calibrate.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        **stage_params(),
    script:
        "../scripts/phase.py"


rule calibrate:
    """The calibration of one planet, raw files -> series -> cube, as ONE job: rules
    calibrate_series and phase in one process (a job's start and imports paid once per
    planet). Each stage stays a target of its own: a series alone is made by rule
    calibrate_series, and `--allowed-rules calibrate_series phase` makes the cube in two jobs."""
    input:
        raw=raw_inputs,
        stars=star_file,
        wavelengths=wavelength_file,
    output:
        series="results/series/{planet}.nc",
        cube="results/cubes/{planet}.nc",
    log:
        "results/logs/calibrate/{planet}.log",
    benchmark:
        "results/benchmarks/calibrate/{planet}.tsv"
    conda:
        "../../envs/calibrate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=40,
    params:
        **stage_params(),
    script:
        "../scripts/calibrate_cube.py"


# a series alone: rule calibrate_series; a cube: one calibrate job, not calibrate_series then phase
ruleorder: calibrate_series > calibrate > phase


rule calibrate_all:
    input:
        cube_files(),


# One rule per stage, for inspection: each runs the chain up to its stage for one
# instrument and visit and writes that stage's product. The cube does not need them.
rule adc:
    input:
        raw_inputs,
    output:
        "results/stages/{planet}/{instrument}_{visit}.adc.nc",
    log:
        "results/logs/adc/{planet}_{instrument}_{visit}.log",
    benchmark:
        "results/benchmarks/adc/{planet}_{instrument}_{visit}.tsv"
    conda:
        "../../envs/calibrate.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=20,
    params:
        **stage_params("adc"),
    script:
        "../scripts/stage.py"


use rule adc as dark with:
    output:
        "results/stages/{planet}/{instrument}_{visit}.dark.nc",
    log:
        "results/logs/dark/{planet}_{instrument}_{visit}.log",
    benchmark:
        "results/benchmarks/dark/{planet}_{instrument}_{visit}.tsv"
    params:
        **stage_params("dark"),


use rule adc as flat with:
    output:
        "results/stages/{planet}/{instrument}_{visit}.flat.nc",
    log:
        "results/logs/flat/{planet}_{instrument}_{visit}.log",
    benchmark:
        "results/benchmarks/flat/{planet}_{instrument}_{visit}.tsv"
    params:
        **stage_params("flat"),


use rule adc as cds with:
    output:
        "results/stages/{planet}/{instrument}_{visit}.cds.nc",
    log:
        "results/logs/cds/{planet}_{instrument}_{visit}.log",
    benchmark:
        "results/benchmarks/cds/{planet}_{instrument}_{visit}.tsv"
    params:
        **stage_params("cds"),


use rule adc as photometry with:
    output:
        "results/stages/{planet}/FGS1_{visit}.photometry.nc",
    log:
        "results/logs/photometry/{planet}_FGS1_{visit}.log",
    benchmark:
        "results/benchmarks/photometry/{planet}_FGS1_{visit}.tsv"
    params:
        **stage_params("photometry"),


use rule adc as extract_trace with:
    output:
        "results/stages/{planet}/AIRS-CH0_{visit}.trace.nc",
    log:
        "results/logs/extract_trace/{planet}_AIRS-CH0_{visit}.log",
    benchmark:
        "results/benchmarks/extract_trace/{planet}_AIRS-CH0_{visit}.tsv"
    params:
        **stage_params("trace"),
