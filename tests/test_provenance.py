"""Provenance attributes (spectramind.provenance) and the calibration products that carry them:
per-visit stages, the whole-config and section hashes under distinct names, and the name and
sha256 of every reference file, end to end through the workflow scripts on a tiny planet."""

from __future__ import annotations

import hashlib
import json
import runpy
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr
import yaml

from spectramind import __version__, io, lineage, provenance, rulelog
from spectramind.calibration import dq
from spectramind.calibration.pipeline import CalibrationConfig

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow" / "scripts"


def test_attributes_name_the_whole_config_and_the_section_apart():
    cfg = CalibrationConfig()
    whole = {"calibration": {"time_bin_s": 60.0}, "fit": {"x": 1}}
    stages = [{"adc": "COMPLETE", "linearity": "SKIPPED"}, {"adc": "COMPLETE"}]
    a = provenance.attributes(
        section="calibration", section_config=cfg, stages=stages, config=whole
    )
    assert a["software"] == f"spectramind {__version__}"
    assert a["config_sha256"] == lineage.config_sha256(whole)
    assert a["calibration_config_sha256"] == cfg.digest()
    assert a["config_sha256"] != a["calibration_config_sha256"]
    # the section hash is the canonical-JSON hash of the section's values
    assert cfg.digest() == lineage.config_sha256(json.loads(a["calibration_config"]))
    assert json.loads(a["calibration_config"])["time_bin_s"] == cfg.time_bin_s
    assert json.loads(a["stages"]) == stages
    assert provenance.stages_from_attrs(a) == tuple(stages)
    assert a["reference_files"] == "[]"
    # outside a run there is no whole config: no config_sha256 rather than a wrong one
    b = provenance.attributes(section="calibration", section_config=cfg, stages=stages)
    assert "config_sha256" not in b
    assert b["calibration_config_sha256"] == a["calibration_config_sha256"]


def test_section_hash_changes_with_a_value_and_not_with_key_order():
    a = provenance.section_sha256({"a": 1, "b": [1, 2]})
    assert a == provenance.section_sha256({"b": [1, 2], "a": 1})
    assert a != provenance.section_sha256({"a": 2, "b": [1, 2]})
    assert CalibrationConfig().digest() != CalibrationConfig(time_bin_s=61.0).digest()


@pytest.mark.parametrize(
    "stages, problem",
    [([{"adc": "DONE"}], "not one of"), ([{"flat": None}], "not one of")],
)
def test_unknown_stage_status_is_refused(stages, problem):
    with pytest.raises(ValueError, match=problem):
        provenance.attributes(section="s", section_config={}, stages=stages)


def test_stage_record_and_with_stage():
    rec = provenance.stage_record(["adc", "dark"], ["linearity"])
    assert rec == {"adc": "COMPLETE", "dark": "COMPLETE", "linearity": "SKIPPED"}
    with pytest.raises(ValueError, match="both"):
        provenance.stage_record(["adc"], ["adc"])
    two = provenance.with_stage([rec, {"adc": "COMPLETE"}], "phase")
    assert [s["phase"] for s in two] == ["COMPLETE", "COMPLETE"]
    assert "phase" not in rec  # inputs are not modified
    assert provenance.with_stage([rec], "fit", "SKIPPED")[0]["fit"] == "SKIPPED"


def test_reference_file_is_named_from_the_root_and_hashed(tmp_path):
    f = tmp_path / "train" / "7" / "FGS1_calibration_0" / "dark.parquet"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"abc")
    ref = provenance.reference_file(f, tmp_path)
    assert ref.name == "train/7/FGS1_calibration_0/dark.parquet"
    assert ref.sha256 == hashlib.sha256(b"abc").hexdigest()
    with pytest.raises(ValueError, match="not inside the data root"):
        provenance.reference_file(f, tmp_path / "elsewhere")
    # a root whose planet folder links to another disk (a Kaggle input) names files in itself
    linked = tmp_path / "root"
    (linked / "train").mkdir(parents=True)
    (linked / "train" / "7").symlink_to(tmp_path / "train" / "7")
    via = provenance.reference_file(linked / "train/7/FGS1_calibration_0/dark.parquet", linked)
    assert via == ref


def test_reference_files_are_unique_sorted_and_consistent():
    a, b = provenance.RefFile("b.csv", "1" * 64), provenance.RefFile("a.csv", "2" * 64)
    attrs = provenance.attributes(
        section="s", section_config={}, stages=[{}], reference_files=[a, b, a]
    )
    assert provenance.reference_files_from_attrs(attrs) == (b, a)
    with pytest.raises(ValueError, match="different sha256"):
        provenance.attributes(
            section="s",
            section_config={},
            stages=[{}],
            reference_files=[a, provenance.RefFile("b.csv", "3" * 64)],
        )


def test_inherit_extends_every_visit_and_keeps_the_parent_section_hash():
    cube = provenance.attributes(
        section="calibration",
        section_config={"k": 1},
        stages=[{"phase": "COMPLETE"}, {"phase": "COMPLETE"}],
        config={"all": 1},
        reference_files=[provenance.RefFile("x.parquet", "a" * 64)],
    )
    fit = provenance.inherit(
        cube,
        stage="fit",
        section="fit",
        section_config={"order": 2},
        config={"all": 1},
        reference_files=[provenance.RefFile("wavelengths.csv", "b" * 64)],
    )
    assert fit["calibration_config_sha256"] == cube["calibration_config_sha256"]
    assert fit["fit_config_sha256"] == provenance.section_sha256({"order": 2})
    assert fit["config_sha256"] == cube["config_sha256"]
    assert [s for s in provenance.stages_from_attrs(fit)] == [
        {"phase": "COMPLETE", "fit": "COMPLETE"}
    ] * 2
    assert [r.name for r in provenance.reference_files_from_attrs(fit)] == [
        "wavelengths.csv",
        "x.parquet",
    ]


def test_stages_from_attrs_refuses_the_old_single_record():
    with pytest.raises(ValueError, match="list of per-visit records"):
        provenance.stages_from_attrs({"stages": json.dumps({"adc": "COMPLETE"})})
    with pytest.raises(ValueError, match="no per-visit"):
        provenance.stages_from_attrs({})


# --------------------------------------------------------------------------- end to end
def _run_script(name: str, **fields) -> None:
    """Run a workflow script as Snakemake's ``script:`` does (a ``snakemake`` global); its
    log file and exception hook (``rulelog.log_to``) are left out of the test process."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rulelog, "log_to", lambda path: None)
        runpy.run_path(str(SCRIPTS / name), init_globals={"snakemake": SimpleNamespace(**fields)})


@pytest.fixture(scope="module")
def two_visit_products(tiny_dataset, tmp_path_factory):
    """A tiny planet with two visits through the calibrate and phase scripts."""
    root = tiny_dataset(n_train=1, n_test=0, seed=4, second_visit_fraction=1.0)
    planet = io.list_planets(root, "train")[0]
    assert io.list_visits(root, "train", planet) == [0, 1]
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    out = tmp_path_factory.mktemp("prov")
    common = {
        "wildcards": SimpleNamespace(planet=str(planet)),
        "params": SimpleNamespace(root=str(root), split="train", cal=config["calibration"]),
        "config": config,
    }
    series, cube = out / "series.nc", out / "cube.nc"
    _run_script("calibrate.py", output=[str(series)], log=[str(out / "c.log")], **common)
    with warnings.catch_warnings():
        # the 250x coarser tiny cadence leaves time bins empty: NaN by design (test_bad_inputs)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        _run_script(
            "phase.py",
            input=SimpleNamespace(
                series=str(series),
                stars=str(root / "train_star_info.csv"),
                wavelengths=str(root / "wavelengths.csv"),
            ),
            output=[str(cube)],
            log=[str(out / "p.log")],
            **common,
        )
    with xr.open_dataset(series) as s, xr.open_dataset(cube) as c:
        yield root, planet, config, s.load(), c.load()


def test_products_carry_per_visit_stages(two_visit_products):
    _, _, config, series, cube = two_visit_products
    pixel = {"adc": "COMPLETE", "dark": "COMPLETE", "flat": "COMPLETE", "cds": "COMPLETE"}
    lin = "COMPLETE" if config["calibration"]["linearity"] else "SKIPPED"
    visit = {**pixel, "linearity": lin, "photometry": "COMPLETE", "trace": "COMPLETE"}
    assert provenance.stages_from_attrs(series.attrs) == (visit, visit)
    assert provenance.stages_from_attrs(cube.attrs) == ({**visit, "phase": "COMPLETE"},) * 2


def test_products_carry_the_whole_config_hash_and_the_section_hash(two_visit_products):
    _, _, config, series, cube = two_visit_products
    cfg = CalibrationConfig.from_dict(config["calibration"])
    for ds in (series, cube):
        assert ds.attrs["config_sha256"] == lineage.config_sha256(config)  # = the manifest's
        assert ds.attrs["calibration_config_sha256"] == cfg.digest()
        assert ds.attrs["software"] == f"spectramind {__version__}"


def test_products_name_and_hash_every_reference_file(two_visit_products):
    root, planet, _, series, cube = two_visit_products
    maps = [
        f"train/{planet}/{inst}_calibration_{v}/{m}.parquet"
        for v in (0, 1)
        for inst in io.INSTRUMENTS
        for m in io.CALIBRATION_MAPS
    ]
    tables = ["adc_info.csv", "axis_info.parquet"]
    s_refs = {r.name: r.sha256 for r in provenance.reference_files_from_attrs(series.attrs)}
    c_refs = {r.name: r.sha256 for r in provenance.reference_files_from_attrs(cube.attrs)}
    assert sorted(s_refs) == sorted(maps + tables)
    assert sorted(c_refs) == sorted([*maps, *tables, "wavelengths.csv"])
    for name, sha in c_refs.items():
        assert sha == lineage.sha256_file(root / name), name


def test_cube_quality_is_the_dq_bitmask(two_visit_products):
    _, _, _, series, cube = two_visit_products
    q = cube["quality"]
    assert q.dtype == np.uint32
    assert q.attrs["flag_meanings"].split() == list(dq.FLAGS.values())
    assert list(q.attrs["flag_masks"]) == list(dq.FLAGS)
    # NO_VALID_DATA exactly where flux is missing
    assert np.array_equal((q.values & dq.NO_VALID_DATA) != 0, np.isnan(cube["flux"].values))
    # the cube's bits are the OR over the series' pairs: every bit of the series reaches it
    assert (
        int(dq.reduce_or(series["airs_dq"].values, axis=(0, 1, 2)))
        & ~int(dq.reduce_or(q.values[:, :, 1:], axis=(0, 1, 2)))
        == 0
    )
    # the simulator has dead and hot pixels on the AIRS trace: some bins carry their bits
    airs_bits = int(dq.reduce_or(q.values[:, :, 1:], axis=(0, 1, 2)))
    assert airs_bits & (dq.DEAD | dq.HOT)


# --------------------------------------------------------------------------- predictions
def test_prediction_record_names_and_hashes_every_input(tmp_path):
    a, b = tmp_path / "fits" / "2.nc", tmp_path / "fits" / "1.nc"
    a.parent.mkdir()
    a.write_bytes(b"second")
    b.write_bytes(b"first")
    whole = {"recalibration": {"sigma": True}, "physics": {"drift_max_order": 3}}
    rec = provenance.prediction_record(
        method="physics",
        split="test",
        section="recalibration",
        section_config=whole["recalibration"],
        config=whole,
        inputs=[a, b, a],
    )
    assert rec["method"] == "physics" and rec["split"] == "test"
    assert rec["software"] == f"spectramind {__version__}"
    assert rec["config_sha256"] == lineage.config_sha256(whole)
    assert rec["recalibration_config_sha256"] == provenance.section_sha256({"sigma": True})
    assert provenance.stages_from_attrs(rec) == ({"predict": "COMPLETE"},)
    inputs = json.loads(rec["inputs"])
    assert [i["name"] for i in inputs] == [b.as_posix(), a.as_posix()]  # sorted, once
    assert inputs[1]["sha256"] == hashlib.sha256(b"second").hexdigest()

    path = tmp_path / "test.provenance.json"
    provenance.write_record(rec, path)
    assert provenance.read_record(path) == rec
    sub = tmp_path / "submission.csv"
    sub.write_bytes(b"planet_id\n")
    done = provenance.submitted_record(rec, sub)
    assert provenance.stages_from_attrs(done) == ({"predict": "COMPLETE", "submit": "COMPLETE"},)
    assert json.loads(done["inputs"])[-1] == {
        "name": sub.as_posix(),
        "sha256": hashlib.sha256(b"planet_id\n").hexdigest(),
    }
    assert done["config_sha256"] == rec["config_sha256"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not a provenance record"),
        ('["a"]', "JSON object of strings"),
        ('{"software": "x"}', "no per-visit 'stages'"),
    ],
)
def test_read_record_names_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "bad.provenance.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem) as exc:
        provenance.read_record(path)
    assert str(path) in str(exc.value) or problem == "no per-visit 'stages'"
