#!/usr/bin/env bash
# SpectraMind V50 on a Kaggle notebook (no internet): install this bundle from its local
# files, run the pipeline on the challenge data and write submission.csv.
#
#   bash kaggle-boot.sh [INPUT [OUTPUT]]
#
#   INPUT   challenge-layout data folder (default /kaggle/input/ariel-data-challenge-2025);
#           its test split is predicted (test/, test_star_info.csv, adc_info.csv, axis_info.parquet,
#           wavelengths.csv)
#   OUTPUT  where submission.csv goes (default /kaggle/working)
#
# Environment: PYTHON (default python3), CORES (default: all), SPECTRAMIND_WORK (scratch
# folder, default OUTPUT/spectramind-work).
#
# The project wheel is installed with pip --no-index --no-deps into SPECTRAMIND_WORK/site (put
# on PYTHONPATH; the environment itself is not modified). The dependencies must already be
# importable (a Kaggle image has numpy, scipy, pandas, pyarrow, torch, ...); wheels of missing
# ones (e.g. snakemake and its own dependencies) can be put in the bundle's wheels/ folder and
# are installed the same way. pip never looks at an index (PIP_NO_INDEX=1), so nothing is
# downloaded. Exit status: 0 = submission.csv written, 2 = bad input or environment, else the
# pipeline's status.
set -euo pipefail

bundle=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
input=${1:-/kaggle/input/ariel-data-challenge-2025}
output=${2:-/kaggle/working}
python=${PYTHON:-python3}
cores=${CORES:-all}
work=${SPECTRAMIND_WORK:-$output/spectramind-work}

say() { printf 'kaggle-boot: %s\n' "$*" >&2; }
die() { printf 'kaggle-boot: error: %s\n' "$*" >&2; exit 2; }

[[ -d $input ]] || die "input folder '$input' does not exist"
for f in test_star_info.csv adc_info.csv axis_info.parquet wavelengths.csv; do
    [[ -f $input/$f ]] || die "'$input' is not a challenge-layout folder: no $f"
done
[[ -d $input/test ]] || die "'$input' has no test/ folder"
command -v "$python" >/dev/null 2>&1 || die "python '$python' not found (set PYTHON)"
shopt -s nullglob
wheels=("$bundle"/spectramind-*.whl)
extra=("$bundle"/wheels/*.whl)
shopt -u nullglob
((${#wheels[@]} == 1)) || die "expected one spectramind-*.whl in $bundle, found ${#wheels[@]}"
[[ -f $bundle/config.yaml && -f $bundle/workflow/Snakefile ]] || die "$bundle is not a complete bundle"
input=$(cd "$input" && pwd)
mkdir -p "$output" "$work"
output=$(cd "$output" && pwd)
work=$(cd "$work" && pwd)

# Offline: pip may only read the files named here.
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
site=$work/site
rm -rf "$site"
say "installing $(basename "${wheels[0]}")${extra:+ and ${#extra[@]} wheel(s) from wheels/} offline into $site"
"$python" -m pip install --quiet --no-index --no-deps --target "$site" "${wheels[0]}" ${extra[@]+"${extra[@]}"}
export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}

"$python" - <<'PY' || exit 2
import importlib
import sys

need = ["numpy", "scipy", "pandas", "pyarrow", "xarray", "netCDF4", "astropy", "yaml", "jsonschema",
        "matplotlib", "numba", "torch", "snakemake"]
missing = []
for name in need:
    try:
        importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken binary
        missing.append(f"{name} ({type(exc).__name__}: {exc})")
import spectramind

print(f"kaggle-boot: spectramind {spectramind.__version__} from {spectramind.__file__}", file=sys.stderr)
if missing:
    print("kaggle-boot: error: missing dependencies: " + "; ".join(missing)
          + ". Add their wheels to the bundle's wheels/ folder.", file=sys.stderr)
    sys.exit(2)
PY

run=$work/run
rm -rf "$run"
cp -R "$bundle/workflow" "$run"
# Snakemake's --config takes top-level keys only: the nested overrides go in a config file.
checkpoint=
[[ -d $bundle/checkpoint ]] && checkpoint=$bundle/checkpoint
INPUT=$input CHECKPOINT=$checkpoint "$python" -c '
import os, sys, yaml
cfg = {"data": {"root": os.environ["INPUT"]}}
if os.environ["CHECKPOINT"]:
    cfg["model"] = {"checkpoint": os.environ["CHECKPOINT"]}
yaml.safe_dump(cfg, sys.stdout)' >"$work/overrides.yaml"
say "running the pipeline on $input (test split) with $cores core(s)"
"$python" -m snakemake submit --snakefile "$run/Snakefile" --directory "$run" --cores "$cores" \
    --configfile "$bundle/config.yaml" "$work/overrides.yaml"
cp "$run/results/submission.csv" "$output/submission.csv"
say "wrote $output/submission.csv ($(($(wc -l <"$output/submission.csv") - 1)) planets)"
