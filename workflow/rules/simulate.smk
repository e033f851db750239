rule simulate_dataset:
    """The embedded default dataset in the challenge layout: each split's planet folders and
    the tables at the top (each a declared output, so that the rules reading one declare it)."""
    output:
        train=directory(sim_file("train")),
        test=directory(sim_file("test")),
        tables=[sim_file(name) for name in SIM_TABLES],
    log:
        "results/logs/simulate_dataset/simulate_dataset.log",
    benchmark:
        "results/benchmarks/simulate_dataset/simulate_dataset.tsv"
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        # the dataset's folder: the one above the split folders
        out=lambda wc, output: str(Path(output.train).parent),
        sim=lookup(dpath="simulation", within=config),
    script:
        "../scripts/simulate_dataset.py"
