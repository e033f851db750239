rule simulate_dataset:
    output:
        directory(config["simulation"]["out"]),
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
        sim=lookup(dpath="simulation", within=config),
    script:
        "../scripts/simulate_dataset.py"
