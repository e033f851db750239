# The event log of the jobs (results/logs/events.jsonl) is attached by on_start (common.smk),
# the Snakefile's `onstart:` hook.


rule manifest:
    """Config and its hash, git commit, package versions, the SBOM and the sha256 of every final artifact."""
    input:
        artifacts=manifest_inputs(),
        schema=schema_file("manifest.schema.json"),
        events_schema=schema_file("events.schema.json"),
    output:
        MANIFEST,
    log:
        "results/logs/manifest/manifest.log",
    benchmark:
        "results/benchmarks/manifest/manifest.tsv"
    conda:
        "../../envs/spectramind.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # the checkout of the workflow (its git commit goes in the manifest)
        repo=lambda wc, input: str(Path(input.schema).parents[1]),
        events=EVENTS,
        # CycloneDX SBOM of the environment (`make sbom`), referenced when it exists
        sbom=SBOM,
    script:
        "../scripts/manifest.py"
