"""The submission schema and validation, and the `submit` rule's results/submission.csv."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from spectramind import io, lineage, provenance
from spectramind.submission import (
    SubmissionError,
    submission_document,
    validate_submission,
    write_validated,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "submission.schema.json"


def make_submission(ids=(11, 22, 33), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(ids)
    df = pd.DataFrame(
        np.hstack(
            [rng.uniform(0.01, 0.02, (n, io.N_BINS)), rng.uniform(1e-5, 1e-4, (n, io.N_BINS))]
        ),
        columns=io.WL_COLUMNS + io.SIGMA_COLUMNS,
    )
    df.insert(0, "planet_id", np.asarray(ids, dtype=np.int64))
    return df


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["columns"]["const"] == [
        "planet_id",
        *io.WL_COLUMNS,
        *io.SIGMA_COLUMNS,
    ]


def test_valid_submission_passes_and_round_trips_through_csv(tmp_path: Path) -> None:
    df = make_submission()
    path = tmp_path / "sub.csv"
    df.to_csv(path, index=False)
    got = validate_submission(path, SCHEMA, planets=[33, 11, 22])
    pd.testing.assert_frame_equal(got, df)


def test_document_maps_non_finite_values_to_null() -> None:
    df = make_submission(ids=(5,))
    df.loc[0, "wl_3"] = np.inf
    doc = submission_document(df)
    assert doc["rows"][0]["wl_3"] is None
    assert doc["rows"][0]["planet_id"] == 5 and isinstance(doc["rows"][0]["planet_id"], int)
    assert doc["planet_ids"] == [5]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("wl_7", np.nan, "rows/1/wl_7: None is not of type 'number'"),
        ("sigma_283", np.inf, "rows/1/sigma_283: None is not of type 'number'"),
        ("sigma_1", -1e-6, "rows/1/sigma_1: -1e-06 is less than the minimum of 0"),
        ("wl_200", -0.5, "rows/1/wl_200: -0.5 is less than the minimum of 0"),
    ],
)
def test_bad_values_are_named(column: str, value: float, message: str) -> None:
    df = make_submission()
    df.loc[1, column] = value
    with pytest.raises(SubmissionError) as exc:
        validate_submission(df, SCHEMA)
    assert message in str(exc.value)


def test_missing_extra_and_reordered_columns_fail() -> None:
    df = make_submission()
    for bad in (
        df.drop(columns=["sigma_100"]),
        df.assign(extra=1.0),
        df[["planet_id", *io.SIGMA_COLUMNS, *io.WL_COLUMNS]],
    ):
        with pytest.raises(SubmissionError, match="columns"):
            validate_submission(bad, SCHEMA)


def test_duplicated_planet_fails() -> None:
    df = make_submission(ids=(1, 2, 2))
    with pytest.raises(SubmissionError, match="planet_ids: .* has non-unique elements"):
        validate_submission(df, SCHEMA)


def test_every_planet_of_the_split_present_once() -> None:
    df = make_submission(ids=(1, 2, 3))
    with pytest.raises(
        SubmissionError, match=r"1 planet\(s\) missing \[4\], 1 not in the split \[3\]"
    ):
        validate_submission(df, SCHEMA, planets=[1, 2, 4])


def test_non_integer_planet_id_fails() -> None:
    df = make_submission().astype({"planet_id": float})
    df.loc[0, "planet_id"] = 1.5
    with pytest.raises(SubmissionError, match="planet_id: 1.5 is not of type 'integer'"):
        validate_submission(df, SCHEMA)


def test_write_validated_copies_bytes_and_refuses_bad_input(tmp_path: Path) -> None:
    src, out = tmp_path / "pred.csv", tmp_path / "out" / "submission.csv"
    make_submission().to_csv(src, index=False, float_format="%.10g")
    write_validated(src, out, SCHEMA, planets=[11, 22, 33])
    assert out.read_bytes() == src.read_bytes()
    bad = make_submission()
    bad.loc[0, "wl_1"] = np.nan
    bad.to_csv(src, index=False)
    out.unlink()
    with pytest.raises(SubmissionError):
        write_validated(src, out, SCHEMA)
    assert not out.exists() and not out.with_name("submission.csv.part").exists()


@pytest.mark.slow
def test_submit_rule_writes_the_configured_predictions(small_run: Path) -> None:
    sub = small_run / "results" / "submission.csv"
    pred = (
        small_run / "results" / "predictions" / "model" / "test.csv"
    )  # config: method model, split test
    assert sub.read_bytes() == pred.read_bytes()
    test_ids = io.read_star_info(
        small_run / "results" / "simulated" / "test_star_info.csv"
    ).index.tolist()
    df = validate_submission(sub, SCHEMA, planets=test_ids)
    assert sorted(df["planet_id"]) == sorted(test_ids)
    log = (small_run / "results" / "logs" / "submit" / "submit.log").read_text()
    assert f"model predictions of the test split: {len(test_ids)} planets, valid" in log


@pytest.mark.slow
def test_submission_and_predictions_carry_their_provenance(small_run: Path) -> None:
    """Every prediction file has a {split}.provenance.json sidecar naming the whole-config hash
    of the run's manifest and every input product with its sha256; the submission's record is
    the submitted method's plus stage submit and the predictions file."""
    results = small_run / "results"
    manifest = json.loads((results / "manifest.json").read_text())
    for method, section in (
        ("constant", "constant"),
        ("physics", "recalibration"),
        ("model", "model"),
    ):
        rec = provenance.read_record(results / "predictions" / method / "test.provenance.json")
        assert (rec["method"], rec["split"]) == (method, "test")
        assert rec["config_sha256"] == manifest["config_sha256"]
        assert f"{section}_config_sha256" in rec
        for item in json.loads(rec["inputs"]):
            assert lineage.sha256_file(small_run / item["name"]) == item["sha256"], item
    model_inputs = {i["name"] for i in json.loads(rec["inputs"])}
    assert "results/model/model.pt" in model_inputs  # not model_config.json (wall times)
    assert any(n.startswith("results/cubes/") for n in model_inputs)
    sub = provenance.read_record(results / "submission.provenance.json")
    assert provenance.stages_from_attrs(sub) == ({"predict": "COMPLETE", "submit": "COMPLETE"},)
    assert json.loads(sub["inputs"])[-1]["name"] == "results/predictions/model/test.csv"
