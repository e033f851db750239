rule choose_method:
    """submission.method auto: the method with the best out-of-fold train score."""
    input:
        fits=lambda wc: physics_files("train"),
        labels=labels_file("train"),
        model_config=lambda wc: model_checkpoint(wc)["model_config"],
    output:
        METHOD_CHOICE,
    log:
        "results/logs/choose_method/choose_method.log",
    benchmark:
        "results/benchmarks/choose_method/choose_method.tsv"
    conda:
        "../../envs/physics.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        recal=lookup(dpath="recalibration", within=config),
        folds=lookup(dpath="model/training/folds", within=config),
        seed=lookup(dpath="model/seed", within=config),
    script:
        "../scripts/choose_method.py"


rule submit:
    """The challenge submission: the configured method's predictions of the configured split
    (auto: the choice of rule choose_method), validated against schemas/submission.schema.json
    and the split's planet list."""
    input:
        unpack(submission_predictions),
        schema=schema_file("submission.schema.json"),
    output:
        submission="results/submission.csv",
        provenance="results/submission.provenance.json",
    log:
        "results/logs/submit/submit.log",
    benchmark:
        "results/benchmarks/submit/submit.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        planets=planets_of(config["submission"]["split"]),
        submission=lookup(dpath="submission", within=config),
    script:
        "../scripts/submit.py"


rule kaggle_bundle:
    """Offline Kaggle bundle: project wheel, the dependency wheels the Kaggle image lacks, checkpoint,
    the physics prior and recalibration learned on train, config, workflow, the fence's fallback (train constant),
    kaggle-boot.sh."""
    input:
        unpack(bundle_checkpoint),
        unpack(project_files),
        labels=labels_file("train"),
        population=population_input,
        recalibration=recalibration_input,
    output:
        directory("results/kaggle"),
    log:
        "results/logs/kaggle_bundle/kaggle_bundle.log",
    benchmark:
        "results/benchmarks/kaggle_bundle/kaggle_bundle.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        project=lambda wc, input: str(Path(input.pyproject).parent),
        submission=lookup(dpath="submission", within=config),
        kaggle=lookup(dpath="kaggle", within=config),
    script:
        "../scripts/kaggle_bundle.py"
