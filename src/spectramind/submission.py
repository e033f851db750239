"""The challenge submission: ``planet_id, wl_1..wl_283, sigma_1..sigma_283``, one row per planet.

:func:`validate_submission` checks a CSV against ``schemas/submission.schema.json`` (JSON
Schema, through :func:`submission_document`) and against the planet list of the split:
every planet present exactly once, no other.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from spectramind.atomic import atomic_write
from spectramind.lineage import LineageError, validate

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
    if not isinstance(schema, Mapping):
        schema = json.loads(Path(schema).read_text())
    try:
        validate(submission_document(df), schema, what=where)
    except LineageError as exc:
        raise SubmissionError(str(exc)) from None
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
