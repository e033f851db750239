"""Helpers (no rules): the planet sheet, input functions, the final targets."""

from pathlib import Path

from spectramind import io as sm_io
from spectramind.sim import plan_dataset


wildcard_constraints:
    planet=r"\d+",
    split=r"train|test",
    method=r"[a-z_]+",
    visit=r"\d+",
    instrument=r"AIRS-CH0|FGS1",


SIMULATED = config["data"]["root"] is None
DATA_ROOT = Path(config["simulation"]["out"] if SIMULATED else config["data"]["root"])


def planet_sheet():
    """{planet_id: (split, n_visits)} for the configured splits."""
    splits = config["data"]["splits"]
    if SIMULATED:
        sim = config["simulation"]
        plan = plan_dataset(
            n_train=sim["n_train"],
            n_test=sim["n_test"],
            seed=sim["seed"],
            second_visit_fraction=sim["second_visit_fraction"],
        )
        return {p.planet_id: (p.split, p.n_visits) for p in plan if p.split in splits}
    sheet = {}
    for split in splits:
        for pid in sm_io.list_planets(DATA_ROOT, split):
            sheet[pid] = (split, len(sm_io.list_visits(DATA_ROOT, split, pid)))
    return sheet


PLANETS = planet_sheet()


def split_of(planet):
    return PLANETS[int(planet)][0]


def raw_inputs(wildcards):
    """Everything a planet's calibration reads (the simulated dataset folder as a whole)."""
    if SIMULATED:
        return [str(DATA_ROOT)]
    split, n_visits = PLANETS[int(wildcards.planet)]
    files = [DATA_ROOT / f for f in ("adc_info.csv", "axis_info.parquet", "wavelengths.csv")]
    files.append(DATA_ROOT / f"{split}_star_info.csv")
    for v in range(n_visits):
        for inst in sm_io.INSTRUMENTS:
            files.append(sm_io.signal_path(DATA_ROOT, split, int(wildcards.planet), inst, v))
    return [str(f) for f in files]


def planets_of(split):
    return sorted(pid for pid, (s, _) in PLANETS.items() if s == split)


def cube_files():
    return [f"results/cubes/{pid}.nc" for pid in sorted(PLANETS)]


def physics_files(split):
    return [f"results/physics/{pid}.nc" for pid in planets_of(split)]


def truth_path(split):
    """Labels of a split: train.csv, or test_truth.csv (simulated data only)."""
    return str(DATA_ROOT / ("train.csv" if split == "train" else "test_truth.csv"))


def labels_file(split):
    """Input for a split's labels (the simulated folder as a whole when simulating)."""
    return str(DATA_ROOT) if SIMULATED else truth_path(split)


def has_truth(split):
    return split in config["data"]["splits"] and (SIMULATED or Path(truth_path(split)).is_file())


def split_inputs(split):
    return [str(DATA_ROOT)] if SIMULATED else [str(DATA_ROOT / f"{split}_star_info.csv")]


def recalibration_input(wildcards):
    rc = config["recalibration"]
    if (rc["sigma"] or rc["mean"]) and has_truth("train"):
        return "results/recalibration/physics.json"
    return []


METHODS = ["constant", "physics"]


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
    return out
