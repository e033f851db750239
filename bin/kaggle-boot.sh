#!/usr/bin/env bash
# SpectraMind V50 on a Kaggle notebook (no internet): install this bundle from its own files,
# run the pipeline on the challenge's test data under the runtime fence, write submission.csv.
#
#   bash kaggle-boot.sh [INPUT [OUTPUT]]
#
#   INPUT   challenge-layout data folder, read only (default /kaggle/input/ariel-data-challenge-2025);
#           its test split is predicted (test/, test_star_info.csv, adc_info.csv, axis_info.parquet,
#           wavelengths.csv)
#   OUTPUT  where submission.csv and fence.json go (default /kaggle/working)
#
# Environment: PYTHON (default python3), CORES (default: all), SPECTRAMIND_WORK (scratch
# folder, default OUTPUT/spectramind-work), WALL_LIMIT_H (the fence, default the bundle's
# config kaggle.wall_limit_h: 8.5 h from this script's start).
#
# Install: pip --no-index --no-deps --target SPECTRAMIND_WORK/site from the bundle's files only
# (PIP_NO_INDEX=1: nothing is downloaded). The target folder goes on PYTHONPATH of this run: the
# image's own packages are never upgraded or replaced on disk; a bundled dependency the image has
# at a version it accepts is skipped (only one the image has at an excluded version, such as
# packaging >= 26 for snakemake 9, is used from the bundle); --no-deps keeps pip from resolving
# anything (torch included). Then every
# requirement of the project is checked against the installed versions. The bundle's folder
# may be read only (a Kaggle dataset). Exit status: 0 = submission.csv written, 2 = bad input or
# environment, else the pipeline's status.
set -euo pipefail
started=$(date +%s)

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
shopt -u nullglob
((${#wheels[@]} == 1)) || die "expected one spectramind-*.whl in $bundle, found ${#wheels[@]}"
for f in bundle.json config.yaml fallback.json workflow/Snakefile wheels/requirements.txt; do
    [[ -f $bundle/$f ]] || die "$bundle is not a complete bundle: no $f"
done
input=$(cd "$input" && pwd)
mkdir -p "$output" "$work"
output=$(cd "$output" && pwd)
work=$(cd "$work" && pwd)

# Offline: pip may only read the bundle's files.
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_CONFIG_FILE=/dev/null
site=$work/site
rm -rf "$site"
"$python" -m pip install --quiet --no-index --no-deps --no-compile --target "$site" "${wheels[0]}"
export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
# The bundled dependencies the image lacks, or has at a version they exclude (bundle.json).
"$python" -m spectramind.kaggle_run plan "$bundle/bundle.json" >"$work/install.txt" || exit 2
n=$(wc -l <"$work/install.txt")
say "installed $(basename "${wheels[0]}"); installing $n bundled dependencies offline into $site"
if ((n > 0)); then
    "$python" -m pip install --quiet --no-index --no-deps --no-compile --target "$site" \
        --find-links "$bundle/wheels" -r "$work/install.txt"
fi
"$python" -c 'import spectramind, sys; print(f"kaggle-boot: spectramind {spectramind.__version__} from {spectramind.__file__}", file=sys.stderr)'
"$python" -m spectramind.kaggle_run check || die "the environment does not meet the bundle's requirements (above)"
say "installed and checked in $(($(date +%s) - started)) s; running the test split of $input with $cores core(s)"
BOOT_STARTED=$started CORES=$cores "$python" -m spectramind.kaggle_run run "$bundle" "$input" "$output" "$work"
say "wrote $output/submission.csv ($(($(wc -l <"$output/submission.csv") - 1)) planets) and $output/fence.json in $(($(date +%s) - started)) s"
