"""Runtime budget: benchmark projection (exact values on synthetic files) and the budget rule."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import SMALL_CONFIG, link_workflow, run_snakemake
from spectramind import budget, lineage

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
PER_PLANET_RULES = {"calibrate", "fit_transit"}
SECONDS_ATOL = 1e-9  # sums of a few decimal seconds: exact up to float rounding


def write_bench(root: Path, rule: str, key: str, *rows: tuple[float, float, float]) -> None:
    """One benchmark file; each row is (wall s, max_rss MB, cpu s)."""
    path = root / rule / f"{key}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{s}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n" for s, rss, cpu in rows)
    path.write_text(HEADER + body)


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    root = tmp_path / "benchmarks"
    write_bench(root, "calibrate", "11", (10.0, 100, 9.0), (12.0, 120, 9.0))  # repeats: 11 s
    write_bench(root, "calibrate", "22", (21.0, 300, 20.0))
    write_bench(root, "calibrate", "99", (1000.0, 1, 1.0))  # a planet of an earlier run
    write_bench(root, "stage", "11_FGS1_0", (1.0, 50, 1.0))  # keyed {planet}_{inst}_{visit}
    write_bench(root, "stage", "11_AIRS-CH0_0", (2.0, 60, 2.0))
    write_bench(root, "stage", "22_FGS1_0", (5.0, 70, 5.0))
    write_bench(root, "train", "train", (100.0, 2000, 400.0))  # threads 4, runs once
    write_bench(root, "score", "physics_train", (3.0, 10, 3.0))
    write_bench(root, "score", "physics_test", (5.0, 10, 5.0))
    write_bench(root, "simulate_dataset", "simulate_dataset", (500.0, 10, 500.0))
    return root


def test_read_benchmarks_averages_repeats(bench_dir: Path) -> None:
    bench = budget.read_benchmarks(bench_dir).set_index(["rule", "key"])
    assert bench.loc[("calibrate", "11"), "s"] == pytest.approx(11.0, abs=SECONDS_ATOL)
    assert bench.loc[("calibrate", "11"), "max_rss_mb"] == 120
    assert bench.loc[("calibrate", "11"), "cpu_s"] == pytest.approx(9.0, abs=SECONDS_ATOL)
    assert len(bench) == 10


def test_project_exact_values(bench_dir: Path) -> None:
    table = budget.project(
        budget.read_benchmarks(bench_dir),
        n_planets=10,
        cores=4,
        planets=["11", "22"],
        threads={"stage": 2, "train": 4, "score": None},
        exclude=["simulate_dataset"],
    )
    # calibrate: planets 11 s and 21 s (99 ignored), 4 at a time: ceil(10 / 4) * 16 s
    assert table.loc["calibrate", "scaling"] == budget.PER_PLANET
    assert table.loc["calibrate", "planets"] == 2
    assert table.loc["calibrate", "mean_s"] == pytest.approx(16.0, abs=SECONDS_ATOL)
    assert table.loc["calibrate", "projected_h"] * 3600 == pytest.approx(3 * 16.0, abs=SECONDS_ATOL)
    # stage: per planet 1 + 2 = 3 s and 5 s, threads 2 -> 2 at a time: ceil(10 / 2) * 4 s
    assert table.loc["stage", "mean_s"] == pytest.approx(4.0, abs=SECONDS_ATOL)
    assert table.loc["stage", "projected_h"] * 3600 == pytest.approx(5 * 4.0, abs=SECONDS_ATOL)
    # fixed rules count once: train 100 s, score 3 + 5 s
    assert table.loc["train", "scaling"] == budget.FIXED
    assert table.loc["train", "projected_h"] * 3600 == pytest.approx(100.0, abs=SECONDS_ATOL)
    assert table.loc["score", "projected_h"] * 3600 == pytest.approx(8.0, abs=SECONDS_ATOL)
    assert table.loc["score", "threads"] == 1 and table.loc["stage", "threads"] == 2
    assert "simulate_dataset" not in table.index
    total_s = 48.0 + 20.0 + 100.0 + 8.0
    assert budget.total_hours(table) * 3600 == pytest.approx(total_s, abs=SECONDS_ATOL)
    assert table.drop(index=budget.TOTAL)["share"].sum() == pytest.approx(1.0)
    # sorted by projected time, TOTAL last
    assert list(table.index) == ["train", "calibrate", "stage", "score", budget.TOTAL]
    assert table.loc[budget.TOTAL, "max_rss_mb"] == 2000


def test_project_scales_linearly_with_planets(bench_dir: Path) -> None:
    bench = budget.read_benchmarks(bench_dir)
    small = budget.project(bench, n_planets=400, cores=4, planets=["11", "22"])
    large = budget.project(bench, n_planets=800, cores=4, planets=["11", "22"])
    assert large.loc["calibrate", "projected_h"] == pytest.approx(
        2 * small.loc["calibrate", "projected_h"]
    )
    assert large.loc["score", "projected_h"] == small.loc["score", "projected_h"]


def test_project_without_planet_files_fails(tmp_path: Path) -> None:
    write_bench(tmp_path, "score", "physics_train", (3.0, 10, 3.0))
    with pytest.raises(ValueError, match="no per-planet benchmark"):
        budget.project(budget.read_benchmarks(tmp_path), n_planets=10, cores=4)


def test_check_budget_names_the_slowest_rules(bench_dir: Path) -> None:
    table = budget.project(
        budget.read_benchmarks(bench_dir),
        n_planets=1100,
        cores=4,
        planets=["11", "22"],
        exclude=["simulate_dataset"],
    )
    hours = budget.total_hours(table)
    budget.check_budget(table, hours)  # at the limit: fine
    with pytest.raises(budget.BudgetExceeded) as err:
        budget.check_budget(table, hours * 0.5)
    message = str(err.value)
    # the three slowest in order: calibrate (275 x 16 s), stage (275 x 4 s), train (100 s)
    assert message.index("calibrate") < message.index("stage") < message.index("train")
    assert "score" not in message


def test_cli_exit_status(bench_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert budget.main([str(bench_dir), "--planets", "1100", "--hours", "30"]) == 0
    assert "within budget" in capsys.readouterr().out
    assert budget.main([str(bench_dir), "--planets", "1100", "--hours", "0.1"]) == 1
    assert "exceeds the budget" in capsys.readouterr().err


def test_every_rule_has_a_benchmark_and_a_runtime(job_rules: list) -> None:
    rules = job_rules
    assert {"calibrate", "fit_transit", "budget"} <= {r.name for r in rules}
    for rule in rules:
        # the budget reads results/benchmarks/<rule>/<key>.tsv: the folder names the rule
        assert str(rule.benchmark).startswith(f"results/benchmarks/{rule.name}/"), rule.name
        assert rule.runtime and rule.runtime > 0, f"rule {rule.name}: runtime {rule.runtime}"


@pytest.mark.slow
def test_budget_rule_on_the_small_workflow(tmp_path: Path) -> None:
    link_workflow(tmp_path)
    small = yaml.safe_load(SMALL_CONFIG.read_text())
    small["data"]["splits"] = ["train"]
    small["simulation"].update(n_train=2, n_test=0)
    small_cfg, tiny_cfg = tmp_path / "small.yaml", tmp_path / "tiny_budget.yaml"
    small_cfg.write_text(yaml.safe_dump(small))
    tiny_cfg.write_text(yaml.safe_dump({"budget": {"hours": 1e-4}}))

    res = run_snakemake(tmp_path, "--cores", "2", "budget", configfile=small_cfg, check=False)
    assert res.returncode == 0, res.stderr[-4000:]
    table = pd.read_csv(tmp_path / "results" / "budget" / "budget.tsv", sep="\t", index_col=0)
    per_planet = set(table.query("scaling == 'per_planet'").index)
    assert PER_PLANET_RULES <= per_planet
    assert (table.query("scaling == 'per_planet'")["planets"] == 2).all()
    assert "simulate_dataset" not in table.index and "budget" not in table.index
    assert math.isclose(
        table.loc["TOTAL", "projected_h"], table["projected_h"].drop("TOTAL").sum(), rel_tol=1e-5
    )
    log = (tmp_path / "results" / "logs" / "budget" / "budget.log").read_text()
    assert "Projection for 1100 planets on 4 cores" in log and "time_scale=75" in log

    report = run_snakemake(
        tmp_path, "--report", "report.html", "budget", configfile=small_cfg, check=False
    )
    assert report.returncode == 0, report.stderr[-4000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert '"results/budget/budget.tsv"' in html and "Runtime budget: this run" in html

    res = run_snakemake(
        tmp_path,
        "--cores",
        "2",
        "--configfile",
        str(small_cfg),
        str(tiny_cfg),
        "--",
        "budget",
        configfile=None,
        check=False,
    )
    assert res.returncode != 0
    assert "exceeds the budget of 0.0001 h; slowest rules:" in res.stderr
    slowest = re.findall(
        r"(\w+) [\d.]+ h \(", res.stderr.split("slowest rules:")[1].splitlines()[0]
    )
    # the slowest rules of the table (per-planet ones or, with few planets, the training)
    assert len(slowest) == budget.N_SLOWEST and set(slowest) <= set(table.index) - {"TOTAL"}
    assert set(slowest) & per_planet, slowest
    # the failed run's log holds its table; the budget rule's own benchmark (from the first
    # run) is not in it
    log = (tmp_path / "results" / "logs" / "budget" / "budget.log").read_text()
    last_table = log.split("Projection for")[-1]
    assert "OVER budget" in last_table and "fit_transit" in last_table
    assert not any(line.startswith("budget ") for line in last_table.splitlines())


def test_threads_of_rules_come_from_the_event_log(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    assert budget.threads_of_rules(events) == {}  # no log: every rule counts one core
    for rule, status, threads in (
        ("train_model", "started", 2),
        ("train_model", "success", 2),
        ("calibrate", "started", 1),
        ("train_model", "started", 4),  # a later run with more cores: the last start counts
        ("predict_model", "started", None),
    ):
        lineage.write_event(events, {"rule": rule, "status": status, "threads": threads})
    threads = budget.threads_of_rules(events)
    assert threads == {"train_model": 4, "calibrate": 1}
    bench = pd.DataFrame(
        {"rule": ["train_model", "calibrate"], "key": ["train", "7"], "s": [10.0, 3.0]}
    ).assign(max_rss_mb=1.0, cpu_s=1.0)
    table = budget.project(bench, n_planets=8, cores=4, threads=threads)
    assert table.loc["train_model", "threads"] == 4 and table.loc["calibrate", "threads"] == 1
    assert table.loc["calibrate", "projected_h"] == pytest.approx(2 * 3.0 / 3600)
