rule train_model:
    """Train the model (FGS1 Mamba + AIRS CNN/GNN + spectral decoder) on the train split."""
    input:
        cubes=lambda wc: cube_files_of("train"),
        fits=lambda wc: physics_files("train"),
        labels=labels_file("train"),
    output:
        model="results/model/model.pt",
        config="results/model/model_config.json",
        history="results/model/history.csv",
    log:
        "results/logs/train_model/train_model.log",
    benchmark:
        "results/benchmarks/train_model/train_model.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: model_threads
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        model=lookup(dpath="model", within=config),
        loss=lookup(dpath="loss", within=config),
    script:
        "../scripts/train_model.py"


rule predict_model:
    """Predict a split with the trained checkpoint, or with config model.checkpoint."""
    input:
        unpack(model_checkpoint),
        cubes=lambda wc: cube_files_of(wc.split),
        fits=lambda wc: physics_files(wc.split),
    output:
        predictions="results/predictions/model/{split}.csv",
        provenance="results/predictions/model/{split}.provenance.json",
    log:
        "results/logs/predict_model/{split}.log",
    benchmark:
        "results/benchmarks/predict_model/{split}.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: model_threads
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        device=lookup(dpath="model/device", within=config),
    script:
        "../scripts/predict_model.py"
