"""The one Snakemake runner of the tests (tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import REPO, link_workflow, parse_rules, snakemake_command

BASE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def test_the_config_file_comes_after_the_targets() -> None:
    # --configfile takes every word up to the next option: a target after it would be a config
    cmd = snakemake_command(Path("/w"), "results/cubes/1.nc", "--cores", "2", configfile=Path("/c"))
    assert cmd == [*BASE, "--directory", "/w", "results/cubes/1.nc", "--cores", "2"] + [
        "--configfile",
        "/c",
    ]


def test_the_config_file_goes_before_a_double_dash() -> None:
    cmd = snakemake_command(Path("/w"), "--configfile", "x", "--", "budget", configfile=Path("/c"))
    assert cmd[-6:] == ["--configfile", "x", "--configfile", "/c", "--", "budget"]
    assert snakemake_command(Path("/w"), "-n", configfile=None) == [
        *BASE,
        "--directory",
        "/w",
        "-n",
    ]


def test_link_workflow_links_the_checkout_once(tmp_path: Path) -> None:
    wd = link_workflow(tmp_path / "wd", "profiles")
    assert link_workflow(wd) == wd  # a second call keeps the links
    links = {p.name: p.resolve() for p in wd.iterdir()}
    assert links == {
        n: REPO / n for n in ("config", "schemas", "workflow", "resources", "profiles")
    }


def test_parse_rules_reads_directives_and_use_rule_inheritance(tmp_path: Path) -> None:
    f = tmp_path / "x.smk"
    f.write_text(
        "rule a:\n"
        "    input:\n"
        '        "in",\n'
        "    benchmark:\n"
        '        "results/benchmarks/a/{p}.tsv"\n'
        "    conda:\n"
        '        "../../envs/x.yaml"\n'
        "    resources:\n"
        "        mem_mb=10,\n"
        "        runtime=7,\n"
        "    script:\n"
        '        "../scripts/a.py"\n'
        "\n\n"
        "use rule a as b with:\n"
        "    benchmark:\n"
        '        "results/benchmarks/b/{p}.tsv"\n'
        "\n\n"
        "rule all:\n"
        "    input:\n"
        '        "out",\n'
    )
    a, b, target = parse_rules([f])
    assert (a.name, a.benchmark, a.conda_env, a.script, a.runtime, a.runs) == (
        "a",
        "results/benchmarks/a/{p}.tsv",
        "../../envs/x.yaml",
        "../scripts/a.py",
        7,
        True,
    )
    assert (b.name, b.benchmark, b.script, b.runtime, b.runs) == (
        "b",
        "results/benchmarks/b/{p}.tsv",
        "../scripts/a.py",
        7,
        True,
    )
    assert (target.name, target.runs, target.benchmark) == ("all", False, None)
