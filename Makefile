# SpectraMind V50 -- two commands on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
PYTEST_ARGS ?=

.PHONY: install run test test-fast lint format format-check sbom bench clean

install: $(VENV)/.installed

# torch is pinned and installed first: an unpinned torch pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test,dev,slurm]"
	touch $@

## run the whole workflow on the embedded default (simulated) dataset; the SBOM of the
## environment is written first so that results/manifest.json references it
run: install sbom
	$(BIN)/snakemake --cores $(CORES)

## run the test suite (fails if no test ran)
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## lint, format, type and workflow checks (CI runs this before the tests; any finding fails)
lint: install
	$(BIN)/ruff check src tests workflow/scripts benchmarks
	$(BIN)/ruff format --check src tests workflow/scripts benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/mypy
	$(BIN)/snakemake --lint

## formatting checks (ruff format, snakefmt)
format-check: install
	$(BIN)/ruff format --check src tests workflow/scripts benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules

format: install
	$(BIN)/ruff format src tests workflow/scripts benchmarks
	$(BIN)/snakefmt Snakefile workflow/rules

## CycloneDX SBOM of the installed environment
sbom: install
	mkdir -p results
	$(BIN)/cyclonedx-py environment $(VENV) --output-format JSON --output-file results/sbom.json
	@$(BIN)/python -c "import json; d = json.load(open('results/sbom.json')); print('SBOM components:', len(d.get('components', [])))"

bench: install
	$(BIN)/python benchmarks/bench_realism.py
	$(BIN)/python benchmarks/bench_calibration.py

clean:
	rm -rf results .snakemake

# --- submission, Kaggle bundle, diagnostics and the HTML report --------------------------------
.PHONY: submit kaggle diagnose report screenshots

## results/submission.csv (validated) from the configured method and split
submit: install
	$(BIN)/spectramind submit --cores $(CORES)

## the offline Kaggle bundle results/kaggle/ (project + dependency wheels the Kaggle image lacks,
## checkpoint, config, fallback, kaggle-boot.sh; docs/kaggle.md)
kaggle: install
	$(BIN)/spectramind submit --kaggle --cores $(CORES)

## diagnostic figures in results/diagnostics/
diagnose: install
	$(BIN)/spectramind diagnose --cores $(CORES)

## results/report.html after a run (`make run`)
report: install
	$(BIN)/snakemake --report results/report.html

## screenshots of the report with headless Chromium (Debian package chromium)
screenshots: report
	bash bin/report-screenshots.sh results/report.html results/screenshots
