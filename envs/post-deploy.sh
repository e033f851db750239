#!/usr/bin/env bash
# Run by `snakemake --sdm conda` inside the new env, from the working directory, after the env
# is built: install this project, editable and without dependencies (the env file pins them),
# so the env runs the repository's code. The repository is found through the `workflow`
# folder of the working directory; set SPECTRAMIND_ROOT where there is none.
set -euo pipefail
root=${SPECTRAMIND_ROOT:-$(dirname "$(readlink -f workflow)")}
if [[ ! -f $root/pyproject.toml ]]; then
    echo "post-deploy: no pyproject.toml in '$root'; set SPECTRAMIND_ROOT to the repository" >&2
    exit 1
fi
python -m pip install --no-deps -e "$root"
