rule budget:
    """Project the run's benchmark files to budget.planets planets; fail if over budget.hours."""
    input:
        get_final_output(),
    output:
        report(
            "results/budget/budget.tsv",
            caption="../report/budget.rst",
            category="Budget",
        ),
    log:
        "results/logs/budget/budget.log",
    benchmark:
        "results/benchmarks/budget/budget.tsv"
    conda:
        "../../envs/budget.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        benchmarks="results/benchmarks",
        planets=sorted(PLANETS),
        # the run's event log: the cores each rule's jobs reserved (Snakemake's job records)
        events=EVENTS,
        budget=lookup(dpath="budget", within=config),
        time_scale=config["simulation"]["time_scale"] if SIMULATED else 1,
    script:
        "../scripts/budget.py"
