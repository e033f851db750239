from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


# The working directory's config/config.yaml (the catalog's deployment layout), else the one
# next to this Snakefile: the workflow runs from any folder (--directory).
CONFIG = Path("config/config.yaml")
if not CONFIG.is_file():
    CONFIG = Path(workflow.basedir) / "config" / "config.yaml"


configfile: str(CONFIG)


validate(config, "schemas/config.schema.yaml", set_default=True)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/physics.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/budget.smk"
include: "workflow/rules/submit.smk"
include: "workflow/rules/diagnose.smk"
include: "workflow/rules/lineage.smk"


rule all:
    default_target: True
    input:
        get_final_output(),


onstart:
    on_start()


onsuccess:
    on_success()


onerror:
    on_error()
