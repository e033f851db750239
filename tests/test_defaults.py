"""Config defaults are defined once, in the schema: every config dataclass and CLI default
is derived from it (a walk over every section)."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from spectramind import budget, cli, defaults
from spectramind.calibration.pipeline import CalibrationConfig
from spectramind.model.losses import LossConfig
from spectramind.model.models.spectra_model import ModelConfig
from spectramind.model.train import TrainConfig
from spectramind.physics.common import FitConfig
from spectramind.recalibration import RecalibrationConfig
from spectramind.sim import World

REPO = Path(__file__).resolve().parents[1]

#: each schema section read by a dataclass, and that dataclass
SECTIONS = {
    "calibration": CalibrationConfig,
    "physics": FitConfig,
    "model.architecture": ModelConfig,
    "model.training": TrainConfig,
    "loss": LossConfig,
    "simulation.world": World,
    "recalibration": RecalibrationConfig,
}


def _frozen(v):
    if isinstance(v, list):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):
        return {k: _frozen(x) for k, x in v.items()}
    return v


def test_the_package_schema_is_the_workflow_schema() -> None:
    path = REPO / "schemas" / "config.schema.yaml"
    assert path.is_symlink() and path.resolve() == (REPO / "src/spectramind/config.schema.yaml")
    assert defaults.schema() == yaml.safe_load(path.read_text())


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_key_of_a_section_is_a_field_with_the_schema_default(section: str) -> None:
    cls = SECTIONS[section]
    inst = cls()
    keys = defaults.default(section)
    assert keys, section
    for key, value in keys.items():
        assert getattr(inst, key) == _frozen(value), f"{section}.{key}"
    extra = {f.name for f in dataclasses.fields(cls)} - set(keys)
    # fields with no key of their own: the model keys above the sections, and the constant
    # n_bins (the challenge's 283 bins, not a setting)
    allowed = {"model.training": {"seed", "device", "threads"}, "model.architecture": {"n_bins"}}
    assert extra == allowed.get(section, set()), section
    for name in allowed.get(section, ()):
        if section == "model.training":
            assert getattr(inst, name) == defaults.default(f"model.{name}")


def test_every_leaf_has_a_default_and_sections_nest() -> None:
    leaves = defaults.leaves()
    assert len(leaves) > 90
    assert leaves["physics.min_snr"] == 5.0
    assert leaves["calibration.dark_dt_s"] == {"AIRS-CH0": [0.1, 4.6], "FGS1": [0.1, 0.2]}
    assert set(defaults.leaves("budget")) == {f"budget.{k}" for k in defaults.default("budget")}
    with pytest.raises(KeyError, match="physics.nope"):
        defaults.default("physics.nope")
    # the cached schema cannot be changed through what a caller gets back
    defaults.default("budget")["exclude"].append("x")
    assert "x" not in defaults.default("budget.exclude")


def test_a_section_key_without_a_field_is_refused_at_class_definition() -> None:
    with pytest.raises(TypeError, match=r"keys of 'loss' with no field: \['lowrank'\]"):

        @dataclasses.dataclass(frozen=True)
        @defaults.schema_defaults("loss")
        class Partial:
            gll: float
            nonnegativity: float
            smoothness: float
            coherence: float


def test_cli_and_budget_defaults_are_the_schema_defaults() -> None:
    params = inspect.signature(cli.simulate).parameters
    assert params["time_scale"].default == defaults.default("simulation.time_scale")
    assert params["second_visit_fraction"].default == defaults.default(
        "simulation.second_visit_fraction"
    )
    args = vars(budget.arguments().parse_args(["benchmarks"]))
    b = defaults.default("budget")
    assert {k: args[k] for k in b} == b
    assert "diagnose_planet" in args["exclude"]  # the workflow's list, not only the simulator
