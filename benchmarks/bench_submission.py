"""Submission validation time for a challenge-size submission (1100 planets by default).

Side by side in one run, on the same frame: (a) every cell through JSON Schema (the whole
document of :func:`spectramind.submission.submission_document`, as validation was done
before), (b) :func:`spectramind.submission.validate_submission` (columns at once; JSON
Schema for the header, the ids and the rows that can fail). Both are run on a valid
submission and on one with a bad cell, and must agree on the verdict. Goal: (b) < 1 s.

Run: ``.venv/bin/python benchmarks/bench_submission.py [--planets 1100] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from spectramind import io
from spectramind.lineage import LineageError, validate
from spectramind.submission import SubmissionError, submission_document, validate_submission

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "submission.schema.json"
GOAL_S = 1.0


def make_submission(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        np.hstack(
            [rng.uniform(0.01, 0.02, (n, io.N_BINS)), rng.uniform(1e-5, 1e-4, (n, io.N_BINS))]
        ),
        columns=io.WL_COLUMNS + io.SIGMA_COLUMNS,
    )
    df.insert(0, "planet_id", np.arange(n, dtype=np.int64) + 1000)
    return df


def every_cell(df: pd.DataFrame, schema: dict) -> None:
    try:
        validate(submission_document(df), schema, what="submission")
    except LineageError as exc:
        raise SubmissionError(str(exc)) from None


def columns_at_once(df: pd.DataFrame, schema: dict) -> None:
    validate_submission(df, schema)


def timed(
    fn: Callable[[pd.DataFrame, dict], None], df: pd.DataFrame, schema: dict
) -> tuple[float, bool]:
    t = time.perf_counter()
    try:
        fn(df, schema)
        valid = True
    except SubmissionError:
        valid = False
    return time.perf_counter() - t, valid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--planets", type=int, default=1100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    schema = json.loads(SCHEMA.read_text())
    good = make_submission(args.planets)
    bad = good.copy()
    bad.loc[args.planets // 2, "sigma_17"] = -1e-6
    print(
        f"{args.planets} planets x {good.shape[1]} columns; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'case':<12}{'every cell (s)':>16}{'columns (s)':>14}{'ratio':>8}  verdicts")
    results = {}
    for name, df in (("valid", good), ("one bad", bad)):
        a = [timed(every_cell, df, schema) for _ in range(args.repeat)]
        b = [timed(columns_at_once, df, schema) for _ in range(args.repeat)]
        ta, tb = statistics.median(t for t, _ in a), statistics.median(t for t, _ in b)
        va, vb = a[0][1], b[0][1]
        if va != vb:
            raise SystemExit(f"{name}: the two validations disagree ({va} vs {vb})")
        results[name] = tb
        print(
            f"{name:<12}{ta:>16.3f}{tb:>14.3f}{ta / tb:>8.0f}  {'valid' if va else 'invalid'} (both)"
        )
    worst = max(results.values())
    print(
        f"goal: columns at once < {GOAL_S} s: {'met' if worst < GOAL_S else 'NOT met'} ({worst:.3f} s)"
    )


if __name__ == "__main__":
    main()
