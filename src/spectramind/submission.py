"""The challenge submission: ``planet_id, wl_1..wl_283, sigma_1..sigma_283``, one row per planet.

:func:`validate_submission` checks a CSV against ``schemas/submission.schema.json`` (JSON
Schema, through :func:`submission_document`) and against the planet list of the split:
every planet present exactly once, no other.

The schema stays the judge, but not cell by cell (every cell through JSON Schema took 21.7 s
for 1100 planets): the header, the first row and the planet ids go through JSON Schema; the
per-cell rules of the schema's row (type number or integer, minimum, maximum) are applied to
whole columns at once to find the rows that can fail, and only those rows then go through
JSON Schema, which words the errors. A cell rule with any other keyword sends every row of
its column through JSON Schema.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spectramind.atomic import atomic_write

__all__ = ["SubmissionError", "submission_document", "validate_submission", "write_validated"]


class SubmissionError(ValueError):
    """A submission that must not be handed in (schema violation, missing or extra planets)."""


def _cell(value: Any) -> Any:
    """JSON value of one CSV cell: non-finite floats become null (so they fail ``number``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalar
        return _cell(value.item())
    return value


def _planet_id(value: Any) -> Any:
    v = _cell(value)
    if isinstance(v, float) and v.is_integer():  # a column read as float (e.g. 1.0)
        return int(v)
    return v


def submission_document(df: pd.DataFrame) -> dict[str, Any]:
    """``{"columns", "rows", "planet_ids"}``: the JSON form of a submission frame that
    ``schemas/submission.schema.json`` describes."""
    columns = [str(c) for c in df.columns]
    records = df.to_dict(orient="records")
    rows = [
        {str(k): (_planet_id(v) if k == "planet_id" else _cell(v)) for k, v in r.items()}
        for r in records
    ]
    ids = [row.get("planet_id") for row in rows]
    return {"columns": columns, "rows": rows, "planet_ids": ids}


#: errors named in a :class:`SubmissionError` (the rest are counted)
MAX_ERRORS = 5
#: keywords of a cell rule that :func:`_cells_ok` applies to whole columns
_COLUMN_KEYWORDS = frozenset(
    {"type", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "description"}
)


def _cell_rule(row_schema: Mapping[str, Any], column: str) -> Mapping[str, Any] | None:
    """The schema of one cell of ``column`` (its property, else the first matching pattern)."""
    props = row_schema.get("properties", {})
    if column in props:
        return props[column]
    for pattern, rule in row_schema.get("patternProperties", {}).items():
        if re.search(pattern, column):
            return rule
    return None


def _cells_ok(values: pd.Series, rule: Mapping[str, Any] | None) -> np.ndarray:
    """Per row: can the cell not fail ``rule``? False = the row goes through JSON Schema."""
    n = len(values)
    kind = rule.get("type") if rule is not None else None
    if (
        rule is None
        or not set(rule) <= _COLUMN_KEYWORDS
        or kind not in ("number", "integer")
        or pd.api.types.is_bool_dtype(values.dtype)
        or not pd.api.types.is_numeric_dtype(values.dtype)
    ):
        return np.zeros(n, dtype=bool)
    x = values.to_numpy(dtype=np.float64)
    ok = np.isfinite(x)
    if kind == "integer":
        ok &= np.floor(x) == x
    with np.errstate(invalid="ignore"):
        if "minimum" in rule:
            ok &= x >= rule["minimum"]
        if "exclusiveMinimum" in rule:
            ok &= x > rule["exclusiveMinimum"]
        if "maximum" in rule:
            ok &= x <= rule["maximum"]
        if "exclusiveMaximum" in rule:
            ok &= x < rule["exclusiveMaximum"]
    return ok


def schema_errors(df: pd.DataFrame, schema: Mapping[str, Any]) -> list[str]:
    """Every ``path: message`` by which the submission frame ``df`` fails ``schema`` (the
    JSON form of :func:`submission_document`), in document order; [] when it is valid.

    Only the header, the planet ids, the first row and the rows whose cells can fail a cell
    rule (see the module docstring) are given to JSON Schema.
    """
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    row_schema = schema.get("$defs", {}).get("row", {})
    ok = np.ones(len(df), dtype=bool)
    for column in df.columns:
        ok &= _cells_ok(df[column], _cell_rule(row_schema, str(column)))
    rows = sorted({0, *np.flatnonzero(~ok).tolist()}) if len(df) else []
    doc = submission_document(df.iloc[rows])
    # every planet id (uniqueness is a property of the whole column)
    doc["planet_ids"] = (
        [_planet_id(v) for v in df["planet_id"].tolist()]
        if "planet_id" in df.columns
        else [None] * len(df)
    )
    errors = []
    for e in validator.iter_errors(doc):
        path = list(e.absolute_path)
        if len(path) >= 2 and path[0] == "rows":
            path[1] = rows[int(path[1])]  # the row's index in the whole submission
        errors.append((path, e.message))
    errors.sort(key=lambda pe: pe[0])
    return [f"{'/'.join(str(p) for p in path) or '<root>'}: {msg}" for path, msg in errors]


def validate_submission(
    submission: str | Path | pd.DataFrame,
    schema: str | Path | Mapping[str, Any],
    *,
    planets: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Validate a submission (CSV path or frame); return it as read.

    Raises :class:`SubmissionError` naming the first schema violations (column order, a
    missing or extra column, a value that is not a finite number >= 0, a duplicated planet)
    and, when ``planets`` is given, the planets missing from it or not expected in it.
    """
    where = str(submission) if not isinstance(submission, pd.DataFrame) else "submission"
    try:
        df = submission if isinstance(submission, pd.DataFrame) else pd.read_csv(submission)
    except (OSError, ValueError) as exc:
        raise SubmissionError(f"{where}: cannot read ({exc})") from None
    rules = schema if isinstance(schema, Mapping) else json.loads(Path(schema).read_text())
    errors = schema_errors(df, rules)
    if errors:
        shown = "; ".join(errors[:MAX_ERRORS])
        more = f" (+{len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        raise SubmissionError(f"{where} does not satisfy its schema: {shown}{more}")
    if planets is not None:
        want = {int(p) for p in planets}
        have = {int(p) for p in df["planet_id"]}
        missing, extra = sorted(want - have), sorted(have - want)
        if missing or extra:
            raise SubmissionError(
                f"{where}: {len(missing)} planet(s) missing {missing[:5]}, "
                f"{len(extra)} not in the split {extra[:5]}"
            )
    return df


def write_validated(
    predictions: str | Path,
    out: str | Path,
    schema: str | Path,
    *,
    planets: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Validate ``predictions`` and copy it byte for byte to ``out`` (atomically)."""
    df = validate_submission(predictions, schema, planets=planets)
    atomic_write(out, lambda tmp: shutil.copyfile(predictions, tmp))
    return df
