"""Helpers (no rules): the planet sheet, input functions, the final targets."""

import os
import time
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger as sm_logger

from spectramind import constants as sm_constants
from spectramind import io as sm_io
from spectramind import lineage
from spectramind import runsummary
from spectramind import validate as sm_validate


wildcard_constraints:
    planet=r"\d+",
    split=r"train|test",
    method=r"[a-z_]+",
    visit=r"\d+",
    instrument=r"AIRS-CH0|FGS1",


SIMULATED = config["data"]["root"] is None
DATA_ROOT = Path(config["simulation"]["out"] if SIMULATED else config["data"]["root"])


def planet_sheet():
    """{planet_id: (split, n_visits)} for the configured splits, the data checked first
    (spectramind.validate: star rows, labels, axes, splits, ids), before any job runs."""
    splits = config["data"]["splits"]
    has_checkpoint = bool(config["model"]["checkpoint"])
    if SIMULATED:
        # imported only here: a run on real data (the Kaggle bundle) never loads the simulator
        from spectramind.sim import plan_dataset

        sim = config["simulation"]
        plan = plan_dataset(
            n_train=sim["n_train"],
            n_test=sim["n_test"],
            seed=sim["seed"],
            second_visit_fraction=sim["second_visit_fraction"],
        )
        problems = sm_validate.split_problems(
            {s: [p.planet_id for p in plan if p.split == s] for s in splits},
            where="the simulated dataset (simulation.n_train, simulation.n_test)",
        )
        if problems:
            raise WorkflowError("; ".join(problems))
        return {p.planet_id: (p.split, p.n_visits) for p in plan if p.split in splits}
    sheet, warnings = sm_validate.check_data_root(
        DATA_ROOT, splits, checkpoint_given=has_checkpoint
    )
    for text in warnings:
        sm_logger.warning(text)
    return sheet


PLANETS = planet_sheet()


def planet_entry(planet):
    """(split, n_visits) of a planet id; a clear error for one outside the configured data."""
    entry = PLANETS.get(int(planet))
    if entry is None:
        raise WorkflowError(
            f"planet {planet} is not in {DATA_ROOT} for splits {config['data']['splits']} "
            f"({len(PLANETS)} planets there)"
        )
    return entry


def split_of(planet):
    return planet_entry(planet)[0]


# What rule simulate_dataset writes at the top of simulation.out (besides train/ and test/)
SIM_TABLES = (
    "adc_info.csv",
    "axis_info.parquet",
    "wavelengths.csv",
    "train_star_info.csv",
    "test_star_info.csv",
    "train.csv",
    "test_truth.csv",
    "sim_truth.csv",
)


def sim_file(name):
    """A file or split folder of the simulated dataset (simulation.out; never the data root:
    the simulator must not be able to write into real data)."""
    return str(Path(config["simulation"]["out"]) / name)


def data_file(name):
    """A file at the top of the data root (simulated: an output of rule simulate_dataset)."""
    return str(DATA_ROOT / name)


def star_file(wildcards):
    """The star table of a planet's split, {root}/{split}_star_info.csv (`planet` wildcard),
    or of the `split` wildcard: an input of every rule that reads it."""
    split = wildcards.split if "split" in wildcards.keys() else split_of(wildcards.planet)
    return data_file(f"{split}_star_info.csv")


def wavelength_file(wildcards=None):
    """{root}/wavelengths.csv: an input of every rule that reads it."""
    return data_file("wavelengths.csv")


def raw_inputs(wildcards):
    """What a planet's calibration reads: the ADC table, the time axes and the planet's raw
    signals (simulated: its split's folder as a whole, one output of simulate_dataset)."""
    split, n_visits = planet_entry(wildcards.planet)
    files = [data_file("adc_info.csv"), data_file("axis_info.parquet")]
    if SIMULATED:
        return files + [data_file(split)]
    for v in range(n_visits):
        for inst in sm_io.INSTRUMENTS:
            files.append(str(sm_io.signal_path(DATA_ROOT, split, int(wildcards.planet), inst, v)))
    return files


def stage_params(stage=None):
    """The params of every calibration rule (calibrate, calibrate_series, phase, the stage
    rules adc .. extract_trace), one set: the data root and the planet's split (where its raw signals are), the calibration config and,
    for a per-stage rule, its stage."""
    params = {
        "root": str(DATA_ROOT),
        "split": lambda wc: split_of(wc.planet),
        "cal": lookup(dpath="calibration", within=config),
    }
    return params if stage is None else {**params, "stage": stage}


def planets_of(split):
    return sorted(pid for pid, (s, _) in PLANETS.items() if s == split)


def cube_files():
    return [f"results/cubes/{pid}.nc" for pid in sorted(PLANETS)]


def physics_files(split):
    return [f"results/physics/{pid}.nc" for pid in planets_of(split)]


POPULATION = "results/physics/population.json"


def population_input(wildcards):
    """The physics prior the predicted fits use: config physics.population, else the one
    learned on the train split (rule physics_population)."""
    given = config["physics"]["population"]
    if given:
        return given
    if not has_truth("train"):
        raise WorkflowError(
            "the physics fit's prior is learned on the train split, which this run does not "
            f"use or which has no labels (data.splits {config['data']['splits']}): set "
            "physics.population to a population.json (results/physics/population.json of a "
            "run with train labels; the Kaggle bundle ships one)"
        )
    return POPULATION


def truth_path(split):
    """Labels of a split: train.csv, or test_truth.csv (simulated data only)."""
    return str(DATA_ROOT / ("train.csv" if split == "train" else "test_truth.csv"))


def labels_file(split):
    """Input for a split's labels (simulated: an output of simulate_dataset)."""
    return truth_path(split)


def has_truth(split):
    return split in config["data"]["splits"] and (SIMULATED or Path(truth_path(split)).is_file())


def split_inputs(split):
    """The star table of a split: what a split-level rule's planet list comes from."""
    return [data_file(f"{split}_star_info.csv")]


RECALIBRATION = "results/recalibration/physics.json"


def recalibration_input(wildcards):
    """The physics predictions' recalibration: config recalibration.file, else the one
    learned on train (rule recalibrate_physics), else none (no train labels)."""
    rc = config["recalibration"]
    if rc["file"]:
        return rc["file"]
    if (rc["sigma"] or rc["mean"]) and has_truth("train"):
        return RECALIBRATION
    return []


METHODS = list(sm_constants.METHODS)


def score_files():
    return [
        f"results/scores/{m}/{s}.json"
        for m in METHODS
        for s in config["data"]["splits"]
        if has_truth(s)
    ]


def get_final_output():
    out = cube_files()
    out += [f"results/predictions/{m}/{s}.csv" for m in METHODS for s in config["data"]["splits"]]
    if score_files():
        out.append("results/scores/table.csv")
    out += delivery_files()
    return out


def cube_files_of(split):
    return [f"results/cubes/{pid}.nc" for pid in planets_of(split)]


def model_threads(wildcards):
    return config["model"]["threads"]


def model_checkpoint(wildcards):
    """model.pt and model_config.json: config model.checkpoint if set, else the trained ones."""
    ckpt = config["model"]["checkpoint"]
    problem = sm_validate.model_source_problem(
        config["data"]["splits"], checkpoint_given=bool(ckpt)
    )
    if problem:
        raise WorkflowError(problem)
    if ckpt:
        pt = Path(ckpt) if Path(ckpt).suffix == ".pt" else Path(ckpt) / "model.pt"
        return {"model": str(pt), "model_config": str(pt.with_name("model_config.json"))}
    return {"model": "results/model/model.pt", "model_config": "results/model/model_config.json"}


# --- submission, Kaggle bundle, diagnostics, lineage (submit.smk, diagnose.smk, lineage.smk)
MANIFEST = "results/manifest.json"
SBOM = "results/sbom.json"
EVENTS = "results/logs/events.jsonl"


def schema_file(name):
    """A JSON schema of schemas/ (next to the Snakefile; a stable path, so a run's params and
    inputs do not change from one run to the next as a source-cache path would)."""
    return str(Path(workflow.basedir) / "schemas" / name)


METHOD_CHOICE = "results/submission/method.json"


def submission_predictions(wildcards):
    """{"predictions": the submitted method's file}; with method auto, every method's file
    and the choice (rule choose_method)."""
    s = config["submission"]
    if s["split"] not in config["data"]["splits"]:
        raise ValueError(
            f"submission.split {s['split']!r} is not one of data.splits {config['data']['splits']}"
        )
    if s["method"] != "auto":
        stem = f"results/predictions/{s['method']}/{s['split']}"
        return {"predictions": f"{stem}.csv", "provenance": f"{stem}.provenance.json"}
    if not has_truth("train"):
        raise WorkflowError(
            "submission.method auto chooses by out-of-fold train scores, but the train split "
            f"is not used or has no labels (data.splits {config['data']['splits']}): "
            "set submission.method to constant, physics or model"
        )
    files = {m: f"results/predictions/{m}/{s['split']}.csv" for m in METHODS}
    records = {
        f"{m}_provenance": f"results/predictions/{m}/{s['split']}.provenance.json" for m in METHODS
    }
    return {**files, **records, "choice": METHOD_CHOICE}


def bundle_checkpoint(wildcards):
    """The checkpoint the Kaggle bundle ships (when the model is, or may be, submitted) and,
    with method auto, the choice (the bundle runs the chosen method)."""
    method = config["submission"]["method"]
    if method == "auto":
        return {**model_checkpoint(wildcards), "choice": METHOD_CHOICE}
    return model_checkpoint(wildcards) if method == "model" else {}


def project_files(wildcards):
    """The project's pyproject.toml, the boot script and the package sources (the Kaggle
    bundle is rebuilt when one of them changes)."""
    root = Path(workflow.basedir)
    return {
        "pyproject": str(root / "pyproject.toml"),
        "boot": str(root / "bin" / "kaggle-boot.sh"),
        "image_packages": str(root / config["kaggle"]["image_packages"]),
        "sources": [str(f) for f in sorted((root / "src" / "spectramind").rglob("*.py"))],
    }


def diagnostic_planets():
    """Planets with per-planet figures: diagnostics.planets, else the first diagnostics.sample
    planets (sorted ids) of each split."""
    d = config["diagnostics"]
    if d["planets"]:
        unknown = sorted(set(d["planets"]) - set(PLANETS))
        if unknown:
            raise ValueError(
                f"diagnostics.planets: {unknown} are not planets of the data (splits {config['data']['splits']})"
            )
        return sorted(d["planets"])
    return [p for s in config["data"]["splits"] for p in planets_of(s)[: d["sample"]]]


def diagnostic_methods():
    return [m for m in config["diagnostics"]["methods"] if m in METHODS]


def planet_predictions(wildcards):
    split = split_of(wildcards.planet)
    return {m: f"results/predictions/{m}/{split}.csv" for m in diagnostic_methods()}


def planet_truth(wildcards):
    split = split_of(wildcards.planet)
    return labels_file(split) if has_truth(split) else []


def split_predictions(wildcards):
    return {m: f"results/predictions/{m}/{wildcards.split}.csv" for m in METHODS}


def diagnostic_files():
    out = []
    for pid in diagnostic_planets():
        out += [
            f"results/diagnostics/{pid}/{fig}.png"
            for fig in (
                "frames",
                "light_curves",
                "spectrum",
                "noise",
                "residual_map",
                "calibration_qa",
            )
        ]
    for split in config["data"]["splits"]:
        if has_truth(split):
            out += [
                f"results/diagnostics/{split}/{fig}.png"
                for fig in ("per_bin", "zscores", "coverage")
            ]
    if score_files():
        out.append("results/diagnostics/score_table.html")
    if not config["model"]["checkpoint"]:  # a given checkpoint: no training run to draw
        out.append("results/diagnostics/training.png")
    out.append("results/diagnostics/runtime.png")
    return out


def delivery_files():
    """Submission (when the submitted split is processed), diagnostics, and the manifest last
    (it hashes all the others). The Kaggle bundle is not among them: building it fetches the
    wheels the Kaggle image lacks from the package index the first time, so it runs only when
    asked for (`spectramind submit --kaggle`, `make kaggle`), never in a plain run."""
    out = []
    if config["submission"]["split"] in config["data"]["splits"]:
        out += ["results/submission.csv"]
    return out + diagnostic_files() + [MANIFEST]


def pipeline_outputs():
    """The final outputs without the deliverables above (what the run-time figure waits for)."""
    delivered = set(delivery_files())
    return [f for f in get_final_output() if f not in delivered]


def manifest_inputs():
    return [f for f in get_final_output() if f != MANIFEST]


# --- what a run prints last (Snakefile onsuccess/onerror)
# the run starts with the parse of the workflow (Snakemake's "Elapsed time" counts from just
# before it)
RUN_STARTED = time.time()
FAILED_JOBS = runsummary.watch_failed_jobs(sm_logger)


def on_start():
    """Snakefile `onstart:` (run by Snakemake only in the process that runs the jobs, never in
    a dry run nor inside a job): one JSON line per job start and end in results/logs/
    events.jsonl (schemas/events.schema.json), from Snakemake's job records."""
    lineage.attach_event_log(EVENTS)


def on_success():
    """The score table, the deliverables' paths, the report command and the wall time."""
    sm_logger.info(runsummary.success_summary(Path.cwd(), started=RUN_STARTED))


def on_error():
    """The failed rules and their logs (also to $SPECTRAMIND_FAILED_JOBS for the CLI)."""
    sm_logger.error(runsummary.error_summary(FAILED_JOBS.jobs, started=RUN_STARTED))
    out = os.environ.get("SPECTRAMIND_FAILED_JOBS")
    if out:
        runsummary.write_failed_jobs(out, FAILED_JOBS.jobs)
