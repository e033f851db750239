"""The `spectramind` command line (Typer): help, overrides, errors, and real Snakemake calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spectramind import cli

REPO = Path(__file__).resolve().parents[1]
SMALL_CONFIG = REPO / "tests" / "data" / "config_small.yaml"
WORKFLOW_COMMANDS = ("calibrate", "train", "predict", "diagnose", "submit")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # help tables render without wrapping option names
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in ("config", "schemas", "workflow", "resources"):
        (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("simulate", *WORKFLOW_COMMANDS, "report"):
        assert command in out


@pytest.mark.parametrize("command", WORKFLOW_COMMANDS)
def test_workflow_command_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    for option in (
        "--config",
        "--configfile",
        "--cores",
        "--profile",
        "--dry-run",
        "--snakefile",
        "--directory",
    ):
        assert option in out, (command, option)
    assert "KEY=VALUE" in out


def test_simulate_help_and_missing_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    for option in (
        "--n-train",
        "--n-test",
        "--seed",
        "--time-scale",
        "--stars",
        "--spectra",
        "--calibration",
        "--second-visit-fraction",
    ):
        assert option in out
    assert cli.main(["simulate", "out", "--n-train", "1", "--n-test", "1"]) == 2
    assert "Missing option '--seed'" in capsys.readouterr().err


def test_no_arguments_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2  # click's no_args_is_help exits 2 after printing the help
    assert "simulate" in capsys.readouterr().out


def test_parse_overrides_nests_and_types_values() -> None:
    got = cli.parse_overrides(
        [
            "calibration.time_bin_s=360",
            "data.splits=[test]",
            "data.root=/x/y",
            "model.checkpoint=null",
            "physics.use_regressors=false",
            "a.b.c=1e-3",
            "k=",
        ]
    )
    assert got == {
        "calibration": {"time_bin_s": 360},
        "data": {"splits": ["test"], "root": "/x/y"},
        "model": {"checkpoint": None},
        "physics": {"use_regressors": False},
        "a": {"b": {"c": "1e-3"}},
        "k": None,
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("noequals", "expected KEY=VALUE"),
        ("bad key=1", "expected KEY=VALUE"),
        ("a.=1", "expected KEY=VALUE"),
        ("x=[1, 2", "not valid YAML"),
    ],
)
def test_parse_overrides_errors(item: str, message: str) -> None:
    with pytest.raises(cli.UsageError, match=message):
        cli.parse_overrides([item])
    with pytest.raises(cli.UsageError, match="used as a section"):
        cli.parse_overrides(["a=1", "a.b=2"])


def test_snakemake_command_line(tmp_path: Path) -> None:
    (tmp_path / "Snakefile").write_text("")
    over = tmp_path / "o.yaml"
    cmd = cli.snakemake_command(
        ["submit"],
        cores="4",
        profile=Path("profiles/slurm"),
        dry_run=True,
        configfiles=[Path("c.yaml")],
        override_file=over,
        directory=tmp_path,
        extra=["--forceall"],
    )
    assert cmd == [
        sys.executable,
        "-m",
        "snakemake",
        "submit",
        "--snakefile",
        str(tmp_path / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--cores",
        "4",
        "--profile",
        "profiles/slurm",
        "--configfile",
        "c.yaml",
        str(over),
        "--dry-run",
        "--forceall",
    ]
    with pytest.raises(cli.UsageError, match="--cores 'x'"):
        cli.snakemake_command([], cores="x", directory=tmp_path)
    with pytest.raises(cli.UsageError, match="no such file"):
        cli.snakemake_command([], cores="1", snakefile=tmp_path / "missing")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "--method", "neural"], "unknown method or split ['neural']"),
        (["predict", "--split", "val"], "unknown method or split ['val']"),
        (
            ["submit", "--method", "neural"],
            "--method 'neural': expected one of auto, constant, physics, model",
        ),
        (["calibrate", "--cores", "0"], "--cores '0': expected a positive integer or 'all'"),
        (["train", "--config", "oops"], "--config 'oops': expected KEY=VALUE"),
        (["diagnose", "--configfile", "/no/such.yaml"], "--configfile /no/such.yaml: no such file"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("spectramind: error: ") and message in err and "Traceback" not in err


def test_dry_run_runs_snakemake_on_the_targets(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(
        [
            "predict",
            "-n",
            "-m",
            "constant",
            "-s",
            "test",
            "--snakefile",
            str(REPO / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(SMALL_CONFIG),
            "-C",
            "simulation.n_test=1",
            "--cores",
            "1",
        ]
    )
    out, err = capfd.readouterr()
    assert rc == 0, out + err
    assert "results/predictions/constant/test.csv --snakefile" in err  # the command is echoed
    assert "config overrides: {simulation: {n_test: 1}}" in err
    assert "rule predict_constant:" in out + err and "simulate_dataset" in out + err
    assert "spectramind predict: done" in err
    assert not (workdir / "results" / "predictions").exists()


def test_submit_options_become_config_overrides(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(
        [
            "submit",
            "-n",
            "--method",
            "physics",
            "--kaggle",
            "--snakefile",
            str(REPO / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(SMALL_CONFIG),
        ]
    )
    out, err = capfd.readouterr()
    assert rc == 0, out + err
    assert "config overrides: {submission: {method: physics}}" in err
    assert "rule predict_physics:" in out + err and "rule kaggle_bundle:" in out + err
    assert "rule train_model:" not in out + err  # physics submitted: no checkpoint in the bundle


def test_snakemake_failure_is_reported_with_its_status(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(
        [
            "calibrate",
            "-n",
            "--snakefile",
            str(REPO / "Snakefile"),
            "-d",
            str(workdir),
            "--config",
            "simulation.n_train=many",
        ]
    )
    out, err = capfd.readouterr()
    assert rc == 1
    assert "'many' is not of type 'integer'" in out + err
    assert "spectramind: error: calibrate: Snakemake failed with exit status 1" in err


def test_extra_arguments_pass_through_to_snakemake(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(
        [
            "diagnose",
            "--snakefile",
            str(REPO / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(SMALL_CONFIG),
            "--",
            "--list-target-rules",
        ]
    )
    out, err = capfd.readouterr()
    assert rc == 0, out + err
    assert "diagnose" in out.split() and "submit" in out.split()


def test_entry_points() -> None:
    for cmd in (
        [sys.executable, "-m", "spectramind.cli", "submit", "--help"],
        [str(Path(sys.executable).parent / "spectramind"), "--help"],
    ):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        assert res.returncode == 0 and "Usage: spectramind" in res.stdout, res.stderr
