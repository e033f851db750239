# One JSON line per job start and end in results/logs/events.jsonl (schemas/events.schema.json),
# written from Snakemake's job log records while jobs run: the handler is attached by the
# Snakefile's `onstart:` hook (on_start below), which Snakemake runs only in the process that
# runs the jobs, never in a dry run nor inside a job.


def on_start():
    """Snakefile `onstart:`: the event log of the jobs about to run."""
    lineage.attach_event_log(EVENTS)


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
