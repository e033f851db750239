"""What a finished run prints last (spectramind.runsummary): scores, paths, failed jobs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from spectramind import runsummary

TABLE = (
    "method,split,score,rmse_fgs_ppm,rmse_airs_ppm,coverage_1sigma,coverage_2sigma,n_planets\n"
    "constant,test,0.0,15507.1,15243.9,0.6667,1.0,3\n"
    "model,test,0.67214,54.2,78.6,0.912,1.0,3\n"
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (59.6, "1 min 0 s"), (135.2, "2 min 15 s"), (4000, "1 h 06 min 40 s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert runsummary.format_duration(seconds) == text


def test_score_table_is_aligned_with_rounded_figures(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(TABLE)
    lines = runsummary.format_score_table(tmp_path / "t.csv")
    assert lines == [
        "method    split  score  RMSE FGS1 ppm  RMSE AIRS ppm  cov 1σ  cov 2σ  n",
        "constant  test   0.000          15507          15244    0.67    1.00  3",
        "model     test   0.672             54             79    0.91    1.00  3",
    ]


def test_success_summary_names_what_this_run_wrote(tmp_path: Path) -> None:
    scores = tmp_path / "results" / "scores"
    scores.mkdir(parents=True)
    (scores / "table.csv").write_text(TABLE)
    sub = tmp_path / "results" / "submission.csv"
    sub.write_text("planet_id\n")
    os.utime(sub, (1000.0, 1000.0))  # written long before the run started
    text = runsummary.success_summary(tmp_path, started=2000.0, now=2135.0)
    lines = text.splitlines()
    assert "Scores (results/scores/table.csv, written by this run):" in lines
    assert "  model     test   0.672             54             79    0.91    1.00  3" in lines
    assert f"results/submission.csv: {sub.resolve()}  (from an earlier run)" in lines
    assert not any(line.startswith("results/kaggle") for line in lines)  # absent: not named
    assert lines[-2].startswith("Report:") and "spectramind report" in lines[-2]
    assert lines[-1] == "Wall time:              2 min 15 s"


def test_success_summary_without_scores(tmp_path: Path) -> None:
    text = runsummary.success_summary(tmp_path, started=0.0, now=5.0)
    assert "Scores" not in text and text.splitlines()[-1].endswith("5 s")


def _record(event: str, rule: str | None, log: list[str] | None) -> logging.LogRecord:
    record = logging.LogRecord("snakemake", logging.ERROR, __file__, 1, "Error in rule", (), None)
    record.event = event
    record.rule_name = rule
    record.log = log
    return record


def test_failed_jobs_keeps_job_errors_only_once_each(tmp_path: Path) -> None:
    logger = logging.getLogger("test_runsummary_logger")
    handler = runsummary.watch_failed_jobs(logger)
    try:
        assert runsummary.watch_failed_jobs(logger) is handler  # once per process
        logger.error("x", extra={"event": "job_info", "rule_name": "phase", "log": []})
        for r in (
            _record("job_error", "calibrate", ["results/logs/calibrate/17.log"]),
            _record("job_error", "calibrate", ["results/logs/calibrate/17.log"]),
            _record("job_error", "manifest", None),
            _record("group_error", "fit_transit", ["x.log"]),
        ):
            logger.handle(r)
        assert handler.jobs == [("calibrate", ["results/logs/calibrate/17.log"]), ("manifest", [])]
        text = runsummary.error_summary(handler.jobs, started=0.0)
        assert text.splitlines()[1:] == [
            "  rule calibrate: log results/logs/calibrate/17.log",
            "  rule manifest: no log file",
        ]
        runsummary.write_failed_jobs(tmp_path / "f.tsv", handler.jobs)
        assert (tmp_path / "f.tsv").read_text() == (
            "calibrate\tresults/logs/calibrate/17.log\nmanifest\t\n"
        )
    finally:
        logger.removeHandler(handler)


def test_error_summary_when_no_job_failed() -> None:
    assert "no rule failed" in runsummary.error_summary([], started=0.0)
