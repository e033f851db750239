"""Submission validation by columns (spectramind.submission.schema_errors) agrees with JSON
Schema on every cell, names rows by their index in the whole submission, and falls back to
JSON Schema for what it cannot check by columns."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from spectramind import io
from spectramind.submission import (
    SubmissionError,
    schema_errors,
    submission_document,
    validate_submission,
)

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "submission.schema.json").read_text()
)


def make_submission(n: int = 12, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        np.hstack(
            [rng.uniform(0.01, 0.02, (n, io.N_BINS)), rng.uniform(1e-5, 1e-4, (n, io.N_BINS))]
        ),
        columns=io.WL_COLUMNS + io.SIGMA_COLUMNS,
    )
    df.insert(0, "planet_id", np.arange(n, dtype=np.int64) + 100)
    return df


def every_cell(df: pd.DataFrame, schema: dict) -> list[str]:
    """The reference: the whole document through JSON Schema."""
    v = jsonschema.Draft202012Validator(schema)
    errors = sorted(v.iter_errors(submission_document(df)), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def test_valid_submission_has_no_errors() -> None:
    assert schema_errors(make_submission(), SCHEMA) == []


def test_bad_cells_far_from_the_first_row_are_named_by_their_row() -> None:
    df = make_submission()
    df.loc[7, "sigma_200"] = -3e-5
    df.loc[9, "wl_5"] = np.nan
    df.loc[9, "wl_9"] = np.inf
    got = schema_errors(df, SCHEMA)
    assert got == every_cell(df, SCHEMA)
    assert got == [
        "rows/7/sigma_200: -3e-05 is less than the minimum of 0",
        "rows/9/wl_5: None is not of type 'number'",
        "rows/9/wl_9: None is not of type 'number'",
    ]


def test_duplicate_beyond_the_first_rows_is_found() -> None:
    df = make_submission()
    df.loc[11, "planet_id"] = 105  # the id of row 5
    got = schema_errors(df, SCHEMA)
    assert got == every_cell(df, SCHEMA)
    assert len(got) == 1 and got[0].startswith("planet_ids: ") and "non-unique" in got[0]


def test_text_column_goes_through_json_schema() -> None:
    df = make_submission(n=5)
    df["wl_3"] = df["wl_3"].astype(str)  # e.g. a CSV column with a stray word: all strings
    got = schema_errors(df, SCHEMA)
    assert got == every_cell(df, SCHEMA)
    assert len(got) == 5 and all("is not of type 'number'" in e for e in got)


def test_cell_rule_with_another_keyword_is_checked_by_json_schema() -> None:
    schema = copy.deepcopy(SCHEMA)
    rule = next(iter(schema["$defs"]["row"]["patternProperties"].values()))
    rule["maximum"] = 0.5  # applied by columns
    rule["not"] = {"const": 0.015}  # not applied by columns: every row goes to JSON Schema
    df = make_submission(n=6)
    df.loc[4, "wl_2"] = 0.75
    df.loc[5, "wl_8"] = 0.015
    got = schema_errors(df, schema)
    assert got == every_cell(df, schema)
    assert got[0] == "rows/4/wl_2: 0.75 is greater than the maximum of 0.5"
    assert got[1].startswith("rows/5/wl_8: 0.015 should not be valid under")
    assert len(got) == 2


def test_error_count_beyond_the_named_ones() -> None:
    df = make_submission()
    df.loc[2:9, "sigma_1"] = -1.0
    with pytest.raises(SubmissionError, match=r"rows/2/sigma_1: .* \(\+3 more\)$"):
        validate_submission(df, SCHEMA)
