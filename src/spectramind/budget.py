"""Runtime budget: project a run's Snakemake benchmark files to the challenge's test set.

The challenge runs inference on ~1100 hidden test planets within 9 hours. A run of the
workflow writes one benchmark file per job (``results/benchmarks/<rule>/<key>.tsv``, columns
``s`` (wall seconds), ``max_rss`` (MB), ``cpu_time``, ...). Rules whose key starts with a
planet id (``{planet}`` or ``{planet}_...``) scale with the number of planets; every other
rule (per split, or once per run) is counted once at its measured time.

Projection on ``cores`` cores for ``n_planets`` planets, rule by rule and without overlap
between rules (so an upper bound for a run that keeps every core busy):

    per-planet rule r:  ceil(n_planets / max(1, cores // threads_r)) * mean_r
    fixed rule r:       sum of its measured job times

where ``mean_r`` is the mean over the measured planets of the rule's wall time per planet.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from spectramind.atomic import atomic_write
from spectramind.defaults import default

__all__ = [
    "BudgetExceeded",
    "check_budget",
    "planet_of",
    "project",
    "read_benchmarks",
    "summary",
    "threads_of_rules",
    "total_hours",
    "write_table",
]

PER_PLANET = "per_planet"
FIXED = "fixed"
TOTAL = "TOTAL"
# Number of rules named in the error when the projection is over budget.
N_SLOWEST = 3
_PLANET_KEY = re.compile(r"^(\d+)(?:_|$)")


class BudgetExceeded(RuntimeError):
    """The projected wall time is over the budget."""


def read_benchmarks(root: str | Path) -> pd.DataFrame:
    """Every ``<root>/<rule>/<key>.tsv`` benchmark file as one row (repeats averaged).

    Returns a frame with columns ``rule``, ``key``, ``s`` (wall seconds), ``max_rss_mb`` and
    ``cpu_s`` (NaN where Snakemake could not measure them).
    """
    rows = []
    for path in sorted(Path(root).glob("*/*.tsv")):
        bench = pd.read_csv(path, sep="\t", na_values=["-", "NA"])
        if bench.empty:
            continue
        rows.append(
            {
                "rule": path.parent.name,
                "key": path.stem,
                "s": float(bench["s"].mean()),
                "max_rss_mb": float(pd.to_numeric(bench.get("max_rss"), errors="coerce").max()),
                "cpu_s": float(pd.to_numeric(bench.get("cpu_time"), errors="coerce").mean()),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "key", "s", "max_rss_mb", "cpu_s"])


def planet_of(key: str) -> str | None:
    """The planet id a benchmark key starts with (``"123"``, ``"123_FGS1_0"``), else None."""
    m = _PLANET_KEY.match(key)
    return m.group(1) if m else None


def threads_of_rules(events: str | Path) -> dict[str, int]:
    """``{rule: cores}`` its jobs reserved, from the run's event log (``results/logs/
    events.jsonl``, :mod:`spectramind.lineage`: Snakemake's own job records, so the rules'
    ``threads:`` as Snakemake applied them); the last started job of each rule counts. No
    log (e.g. removed): empty, every rule then counts as one core."""
    from spectramind.lineage import read_events

    path = Path(events)
    if not path.is_file():
        return {}
    return {
        e["rule"]: e["threads"]
        for e in read_events(path)
        if e.get("status") == "started" and isinstance(e.get("threads"), int)
    }


def project(
    bench: pd.DataFrame,
    *,
    n_planets: int,
    cores: int,
    planets: Iterable[str | int] | None = None,
    threads: Mapping[str, object] | None = None,
    exclude: Iterable[str] = (),
) -> pd.DataFrame:
    """Projected wall time per rule for ``n_planets`` planets on ``cores`` cores.

    bench: rows of :func:`read_benchmarks`. planets: the planet ids of the run (keys of other
    planets, e.g. left over from an earlier run, are ignored); None takes every planet key.
    threads: cores per job of each rule (1 where missing or not a positive int, e.g. threads
    computed per job). exclude: rules left out.

    Returns one row per rule (index ``rule``) with ``scaling`` (per_planet / fixed), ``jobs``,
    ``planets`` (measured), ``mean_s`` and ``max_s`` (wall seconds per planet for per-planet
    rules, per job for fixed ones), ``mean_cpu_s`` (CPU seconds likewise; Snakemake samples
    it, so a lower bound), ``threads``, ``max_rss_mb``, ``projected_h`` and ``share`` of the
    total, sorted by projected time, plus a last row ``TOTAL``.
    """
    if n_planets < 1 or cores < 1:
        raise ValueError(f"n_planets and cores must be >= 1 (got {n_planets}, {cores})")
    threads = dict(threads or {})
    wanted = None if planets is None else {str(p) for p in planets}
    bench = bench[~bench["rule"].isin(set(exclude))].copy()
    bench["planet"] = bench["key"].map(planet_of)
    if wanted is not None:
        bench = bench[bench["planet"].isna() | bench["planet"].isin(wanted)]
    if not bench["planet"].notna().any():
        raise ValueError("no per-planet benchmark files to project from")

    rows = []
    for rule, group in bench.groupby("rule", sort=True):
        n_threads = threads.get(rule)
        n_threads = n_threads if isinstance(n_threads, int) and n_threads > 0 else 1
        per_planet = group["planet"].notna().all()
        if per_planet:
            per = group.groupby("planet")["s"].sum()
            slots = max(1, cores // n_threads)
            mean_s = float(per.mean())
            mean_cpu_s = float(group.groupby("planet")["cpu_s"].sum(min_count=1).mean())
            projected_s = math.ceil(n_planets / slots) * mean_s
            max_s, n_measured = float(per.max()), len(per)
        else:
            mean_s, projected_s = float(group["s"].mean()), float(group["s"].sum())
            mean_cpu_s = float(group["cpu_s"].mean())
            max_s, n_measured = float(group["s"].max()), 0
        rows.append(
            {
                "rule": rule,
                "scaling": PER_PLANET if per_planet else FIXED,
                "jobs": len(group),
                "planets": n_measured,
                "mean_s": mean_s,
                "max_s": max_s,
                "mean_cpu_s": mean_cpu_s,
                "threads": n_threads,
                "max_rss_mb": float(group["max_rss_mb"].max()),
                "projected_h": projected_s / 3600.0,
            }
        )
    rows.sort(key=lambda row: -row["projected_h"])
    total = sum(row["projected_h"] for row in rows)
    for row in rows:
        row["share"] = row["projected_h"] / total if total > 0 else 0.0
    rows.append(
        {
            "rule": TOTAL,
            "scaling": "",
            "jobs": sum(row["jobs"] for row in rows),
            "planets": max(row["planets"] for row in rows),
            "mean_s": math.nan,
            "max_s": math.nan,
            "mean_cpu_s": math.nan,
            "threads": 0,
            "max_rss_mb": max(row["max_rss_mb"] for row in rows),
            "projected_h": total,
            "share": 1.0,
        }
    )
    return pd.DataFrame(rows).set_index("rule")


def total_hours(table: pd.DataFrame) -> float:
    """Projected wall time (h) of a :func:`project` table."""
    return float(table.loc[TOTAL, "projected_h"])


def summary(table: pd.DataFrame, *, n_planets: int, cores: int, hours: float) -> str:
    """Human-readable projection: settings, the per-rule table and the verdict."""
    total = total_hours(table)
    verdict = "within" if total <= hours else "OVER"
    shown = table.copy()
    shown["share"] = (100 * shown["share"]).map("{:.1f}%".format)
    lines = [
        f"Projection for {n_planets} planets on {cores} cores "
        f"(budget {hours:g} h): {total:.2f} h, {verdict} budget",
        shown.to_string(float_format=lambda v: f"{v:.3f}"),
    ]
    return "\n".join(lines)


def check_budget(table: pd.DataFrame, hours: float) -> None:
    """Raise :class:`BudgetExceeded`, naming the slowest rules, if the total is over ``hours``."""
    total = total_hours(table)
    if total <= hours:
        return
    rules = table.drop(index=TOTAL).head(N_SLOWEST)
    slowest = ", ".join(
        f"{rule} {row.projected_h:.2f} h ({100 * row.share:.0f}%)" for rule, row in rules.iterrows()
    )
    raise BudgetExceeded(
        f"projected wall time {total:.2f} h exceeds the budget of {hours:g} h; "
        f"slowest rules: {slowest}"
    )


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """The projection as a tab-separated table (one row per rule, then TOTAL)."""
    atomic_write(path, lambda tmp: table.to_csv(tmp, sep="\t", float_format="%.6g"))


def arguments() -> argparse.ArgumentParser:
    """The command line of :func:`main` (defaults: the schema's ``budget`` section)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("benchmarks", type=Path, help="folder of <rule>/<key>.tsv files")
    budget = default("budget")
    parser.add_argument(
        "--planets", type=int, default=budget["planets"], help="planets to project to"
    )
    parser.add_argument(
        "--cores", type=int, default=budget["cores"], help="cores of the projected run"
    )
    parser.add_argument("--hours", type=float, default=budget["hours"], help="wall-time budget (h)")
    parser.add_argument("--exclude", nargs="*", default=budget["exclude"], help="rules left out")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m spectramind.budget BENCHMARK_DIR``: print the projection; 1 if over budget."""
    parser = arguments()
    args = parser.parse_args(argv)
    table = project(
        read_benchmarks(args.benchmarks),
        n_planets=args.planets,
        cores=args.cores,
        exclude=args.exclude,
    )
    print(summary(table, n_planets=args.planets, cores=args.cores, hours=args.hours))
    try:
        check_budget(table, args.hours)
    except BudgetExceeded as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
