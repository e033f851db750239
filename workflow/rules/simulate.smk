rule simulate_dataset:
    output:
        directory(config["simulation"]["out"]),
    log:
        "results/logs/simulate_dataset/simulate_dataset.log",
    benchmark:
        "results/benchmarks/simulate_dataset/simulate_dataset.tsv"
    params:
        sim=lookup(dpath="simulation", within=config),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/simulate.yaml"
    script:
        "../scripts/simulate_dataset.py"
