"""What a finished run prints last: its results (``onsuccess:``) or its failed jobs (``onerror:``).

Light on purpose (standard library only): it is imported when the workflow is parsed.
:class:`FailedJobs` collects Snakemake's job-error records while the run goes on;
:func:`success_summary` and :func:`error_summary` are the text the workflow's handlers log.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "FailedJobs",
    "error_summary",
    "format_duration",
    "format_score_table",
    "success_summary",
    "watch_failed_jobs",
    "write_failed_jobs",
]

#: Snakemake's ``LogEvent.JOB_ERROR`` (a StrEnum): the record of a failed job
JOB_ERROR = "job_error"


class FailedJobs(logging.Handler):
    """Logging handler keeping ``(rule, log files)`` of every job-error record, in order."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.jobs: list[tuple[str, list[str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(getattr(record, "event", "")) != JOB_ERROR:
            return
        rule = getattr(record, "rule_name", None)
        if rule:
            logs = [str(f) for f in getattr(record, "log", None) or []]
            if (str(rule), logs) not in self.jobs:
                self.jobs.append((str(rule), logs))


def watch_failed_jobs(logger: logging.Logger) -> FailedJobs:
    """The :class:`FailedJobs` handler of ``logger`` (added once per process)."""
    for h in logger.handlers:
        if isinstance(h, FailedJobs):
            return h
    handler = FailedJobs()
    logger.addHandler(handler)
    return handler


def format_duration(seconds: float) -> str:
    """``135.2`` -> ``"2 min 15 s"``; ``4000`` -> ``"1 h 06 min 40 s"``."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h} h {m:02d} min {s:02d} s"
    return f"{m} min {s} s" if m else f"{s} s"


def _num(value: str, fmt: str) -> str:
    try:
        return format(float(value), fmt)
    except ValueError:
        return value or "-"


def format_score_table(path: str | Path) -> list[str]:
    """The score table (``results/scores/table.csv``) as aligned text lines: one row per method
    and split with score, RMSE of FGS1 and AIRS (ppm), 1- and 2-sigma coverage, planets."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    head = ["method", "split", "score", "RMSE FGS1 ppm", "RMSE AIRS ppm", "cov 1σ", "cov 2σ", "n"]
    body = [
        [
            r["method"],
            r["split"],
            _num(r["score"], ".3f"),
            _num(r["rmse_fgs_ppm"], ".0f"),
            _num(r["rmse_airs_ppm"], ".0f"),
            _num(r["coverage_1sigma"], ".2f"),
            _num(r["coverage_2sigma"], ".2f"),
            r["n_planets"],
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(head), *(line(r) for r in body)]


def _state(path: Path, since: float) -> str:
    return "written by this run" if path.stat().st_mtime >= since else "from an earlier run"


def success_summary(
    workdir: str | Path,
    *,
    started: float,
    now: float | None = None,
    table: str = "results/scores/table.csv",
    deliverables: Sequence[str] = ("results/submission.csv", "results/kaggle"),
    report_command: str = "spectramind report   (or: snakemake --report results/report.html)",
) -> str:
    """The closing text of a successful run in ``workdir``: the score table, the paths of the
    deliverables that exist (each marked as written by this run or earlier: the run began at
    ``started``, a ``time.time()``), the report command and the wall time."""
    root = Path(workdir)
    now = time.time() if now is None else now
    out = ["", "SpectraMind V50: run finished"]
    tpath = root / table
    if tpath.is_file():
        out += [f"Scores ({table}, {_state(tpath, started)}):"]
        out += ["  " + row for row in format_score_table(tpath)]
    for item in deliverables:
        p = root / item
        if p.exists():
            out.append(f"{item + ':':<24}{p.resolve()}  ({_state(p, started)})")
    out.append(f"{'Report:':<24}{report_command}")
    out.append(f"{'Wall time:':<24}{format_duration(now - started)}")
    return "\n".join(out)


def error_summary(jobs: Sequence[tuple[str, Sequence[str]]], *, started: float) -> str:
    """The closing text of a failed run: each failed rule with its log files, or, when no job
    failed, that Snakemake stopped without a failed rule."""
    wall = format_duration(time.time() - started)
    if not jobs:
        return f"SpectraMind V50: run stopped after {wall}; no rule failed (see the message above)"
    lines = [f"SpectraMind V50: run failed after {wall}:"]
    for rule, logs in jobs:
        lines.append(f"  rule {rule}: " + (f"log {', '.join(logs)}" if logs else "no log file"))
    return "\n".join(lines)


def write_failed_jobs(path: str | Path, jobs: Sequence[tuple[str, Sequence[str]]]) -> None:
    """``rule<TAB>log, log`` lines (read by the command line for its closing line)."""
    Path(path).write_text("".join(f"{rule}\t{', '.join(logs)}\n" for rule, logs in jobs))
