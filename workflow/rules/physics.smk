rule fit_transit_broad:
    """The physics fit of one train planet under the broad prior of the config: what the
    population prior (rule physics_population) is learned from."""
    input:
        cube="results/cubes/{planet}.nc",
        stars=star_file,
    output:
        "results/physics/broad/{planet}.nc",
    log:
        "results/logs/fit_transit_broad/{planet}.log",
    benchmark:
        "results/benchmarks/fit_transit_broad/{planet}.tsv"
    conda:
        "../../envs/physics.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        physics=lookup(dpath="physics", within=config),
    script:
        "../scripts/fit_transit.py"


rule physics_population:
    """The fit's priors learned on train: maximum likelihood over the broad fits of
    ln(a/Rs / star sma), inclination - star i and the limb-darkening offsets (each fit's own
    error deconvolved), and the failed-fit spectrum from the train labels."""
    input:
        fits=lambda wc: [f"results/physics/broad/{p}.nc" for p in planets_of("train")],
        labels=labels_file("train"),
    output:
        POPULATION,
    log:
        "results/logs/physics_population/physics_population.log",
    benchmark:
        "results/benchmarks/physics_population/physics_population.tsv"
    conda:
        "../../envs/physics.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        physics=lookup(dpath="physics", within=config),
    script:
        "../scripts/physics_population.py"


rule fit_transit:
    """Physics fit of one planet: white light, then the depth of every bin, under the
    population prior learned on train (or config physics.population)."""
    input:
        cube="results/cubes/{planet}.nc",
        stars=star_file,
        population=population_input,
    output:
        "results/physics/{planet}.nc",
    log:
        "results/logs/fit_transit/{planet}.log",
    benchmark:
        "results/benchmarks/fit_transit/{planet}.tsv"
    conda:
        "../../envs/physics.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        physics=lookup(dpath="physics", within=config),
    script:
        "../scripts/fit_transit.py"


rule recalibrate_physics:
    """mu/sigma recalibration of the physics predictions per instrument, as functions of the
    fits' features: model and shrinkage chosen by K-fold over the train planets, refitted on all
    of them; the JSON carries the nested out-of-fold score."""
    input:
        fits=lambda wc: physics_files("train"),
        labels=labels_file("train"),
    output:
        RECALIBRATION,
    log:
        "results/logs/recalibrate_physics/recalibrate_physics.log",
    benchmark:
        "results/benchmarks/recalibrate_physics/recalibrate_physics.tsv"
    conda:
        "../../envs/physics.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        recal=lookup(dpath="recalibration", within=config),
    script:
        "../scripts/recalibrate_physics.py"


rule predict_physics:
    """The physics fits of a split in submission format, recalibrated (train's recalibration)."""
    input:
        fits=lambda wc: physics_files(wc.split),
        recalibration=recalibration_input,
    output:
        predictions="results/predictions/physics/{split}.csv",
        provenance="results/predictions/physics/{split}.provenance.json",
    log:
        "results/logs/predict_physics/{split}.log",
    benchmark:
        "results/benchmarks/predict_physics/{split}.tsv"
    conda:
        "../../envs/physics.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/predict_physics.py"


rule predict_constant:
    """Community baseline: the mean training depth everywhere, one sigma fitted on train."""
    input:
        labels=labels_file("train"),
        raw=lambda wc: split_inputs(wc.split),
    output:
        predictions="results/predictions/constant/{split}.csv",
        provenance="results/predictions/constant/{split}.provenance.json",
    log:
        "results/logs/predict_constant/{split}.log",
    benchmark:
        "results/benchmarks/predict_constant/{split}.tsv"
    conda:
        "../../envs/physics.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        planets=lambda wc: planets_of(wc.split),
    script:
        "../scripts/predict_constant.py"


rule score:
    """Challenge score, RMSE and coverage of one method on one split (truth needed)."""
    input:
        predictions="results/predictions/{method}/{split}.csv",
        truth=lambda wc: labels_file(wc.split),
        train_labels=labels_file("train"),
    output:
        "results/scores/{method}/{split}.json",
    log:
        "results/logs/score/{method}_{split}.log",
    benchmark:
        "results/benchmarks/score/{method}_{split}.tsv"
    conda:
        "../../envs/physics.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/score.py"


rule score_table:
    input:
        score_files(),
    output:
        report("results/scores/table.csv", caption="../report/score_table.rst", category="Scores"),
    log:
        "results/logs/score_table/score_table.log",
    benchmark:
        "results/benchmarks/score_table/score_table.tsv"
    conda:
        "../../envs/physics.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/score_table.py"
