rule diagnose_planet:
    """Figures of one planet: raw frames, light curves, noise, residual map, QA, spectrum."""
    input:
        unpack(planet_predictions),
        cube="results/cubes/{planet}.nc",
        fit="results/physics/{planet}.nc",
        raw=raw_inputs,
        truth=planet_truth,
    output:
        frames=report(
            "results/diagnostics/{planet}/frames.png",
            caption="../report/planet_frames.rst",
            category="Planets",
            subcategory="{planet}",
            labels={"planet": "{planet}", "figure": "raw frames"},
        ),
        light_curves=report(
            "results/diagnostics/{planet}/light_curves.png",
            caption="../report/planet_light_curves.rst",
            category="Planets",
            subcategory="{planet}",
            labels={"planet": "{planet}", "figure": "light curves"},
        ),
        spectrum=report(
            "results/diagnostics/{planet}/spectrum.png",
            caption="../report/planet_spectrum.rst",
            category="Planets",
            subcategory="{planet}",
            labels={"planet": "{planet}", "figure": "spectrum"},
        ),
        noise=report(
            "results/diagnostics/{planet}/noise.png",
            caption="../report/planet_noise.rst",
            category="Planets",
            subcategory="{planet}",
            labels={"planet": "{planet}", "figure": "rms vs bin size"},
        ),
        residual_map=report(
            "results/diagnostics/{planet}/residual_map.png",
            caption="../report/planet_residual_map.rst",
            category="Planets",
            subcategory="{planet}",
            labels={"planet": "{planet}", "figure": "residual map"},
        ),
        calibration_qa=report(
            "results/diagnostics/{planet}/calibration_qa.png",
            caption="../report/planet_calibration_qa.rst",
            category="Calibration",
            subcategory="{planet}",
            labels={"planet": "{planet}", "figure": "calibration QA"},
        ),
    log:
        "results/logs/diagnose_planet/{planet}.log",
    benchmark:
        "results/benchmarks/diagnose_planet/{planet}.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        root=str(DATA_ROOT),
        split=lambda wc: split_of(wc.planet),
        methods=diagnostic_methods(),
        drift_max_order=lookup(dpath="physics/drift_max_order", within=config),
    script:
        "../scripts/diagnose_planet.py"


rule diagnose_split:
    """Score and RMSE per bin, z-scores, coverage of every method on a split with truth."""
    input:
        unpack(split_predictions),
        truth=lambda wc: labels_file(wc.split),
        train_labels=labels_file("train"),
        wavelengths=wavelength_file,
    output:
        per_bin=report(
            "results/diagnostics/{split}/per_bin.png",
            caption="../report/per_bin.rst",
            category="Accuracy",
            subcategory="{split}",
            labels={"split": "{split}", "figure": "per bin"},
        ),
        zscores=report(
            "results/diagnostics/{split}/zscores.png",
            caption="../report/zscores.rst",
            category="Accuracy",
            subcategory="{split}",
            labels={"split": "{split}", "figure": "z-scores"},
        ),
        coverage=report(
            "results/diagnostics/{split}/coverage.png",
            caption="../report/coverage.rst",
            category="Accuracy",
            subcategory="{split}",
            labels={"split": "{split}", "figure": "coverage"},
        ),
    log:
        "results/logs/diagnose_split/{split}.log",
    benchmark:
        "results/benchmarks/diagnose_split/{split}.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        methods=METHODS,
    script:
        "../scripts/diagnose_split.py"


rule diagnose_scores:
    """The score table as an HTML page (the CSV cannot be viewed in the report)."""
    input:
        "results/scores/table.csv",
    output:
        report(
            "results/diagnostics/score_table.html",
            caption="../report/score_table_html.rst",
            category="Scores",
            labels={"table": "challenge scores"},
        ),
    log:
        "results/logs/diagnose_scores/diagnose_scores.log",
    benchmark:
        "results/benchmarks/diagnose_scores/diagnose_scores.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/diagnose_scores.py"


rule diagnose_training:
    """The model's training curve: loss and scores per epoch (results/model/history.csv)."""
    input:
        "results/model/history.csv",
    output:
        report(
            "results/diagnostics/training.png",
            caption="../report/training.rst",
            category="Model",
            labels={"figure": "training curve"},
        ),
    log:
        "results/logs/diagnose_training/diagnose_training.log",
    benchmark:
        "results/benchmarks/diagnose_training/diagnose_training.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/diagnose_training.py"


rule diagnose_runtime:
    """Wall and CPU time per rule from the benchmark files, once the pipeline has run."""
    input:
        pipeline_outputs(),
    output:
        report(
            "results/diagnostics/runtime.png",
            caption="../report/runtime.rst",
            category="Runtime",
            labels={"figure": "run time per rule"},
        ),
    log:
        "results/logs/diagnose_runtime/diagnose_runtime.log",
    benchmark:
        "results/benchmarks/diagnose_runtime/diagnose_runtime.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        benchmarks="results/benchmarks",
    script:
        "../scripts/diagnose_runtime.py"


rule diagnose:
    """Target: every diagnostic figure (`snakemake diagnose`)."""
    input:
        diagnostic_files(),
