"""Rule manifest: config + hash, git commit, versions, sha256 of every final artifact; events checked."""

import logging
from pathlib import Path

from spectramind.lineage import build_manifest, validate_events, write_manifest
from spectramind.rulelog import log_to

log_to(snakemake.log[0])
p = snakemake.params
if Path(p.events).is_file():
    logging.info(
        "%s: %d valid events",
        p.events,
        len(validate_events(p.events, snakemake.input.events_schema)),
    )
manifest = build_manifest(
    config=snakemake.config,
    artifacts=snakemake.input.artifacts,
    repo=p.repo,
    events=p.events,
    sbom=p.sbom,
)
write_manifest(manifest, snakemake.output[0], snakemake.input.schema)
logging.info(
    "%d files hashed, config sha256 %s, commit %s",
    len(manifest["artifacts"]),
    manifest["config_sha256"],
    manifest["git"]["commit"],
)
if "sbom" in manifest:
    logging.info("SBOM %s: %d components", manifest["sbom"]["path"], manifest["sbom"]["components"])
else:
    logging.info("no SBOM at %s (make sbom writes it): not referenced", p.sbom)
