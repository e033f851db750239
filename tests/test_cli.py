"""The `spectramind` command line (Typer): help, overrides, errors, and real Snakemake calls."""

from __future__ import annotations

import shutil
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
        (
            ["predict", "--method", "neural"],
            "predict: --method 'neural': expected one of constant, physics, model",
        ),
        (
            ["predict", "--split", "tset"],
            "predict: --split 'tset': expected one of train, test (did you mean test?)",
        ),
        (
            ["submit", "--method", "modle"],
            "submit: --method 'modle': expected one of constant, physics, model, auto "
            "(did you mean model?)",
        ),
        (["calibrate", "--cores", "0"], "--cores '0': expected a positive integer or 'all'"),
        (["train", "--config", "oops"], "--config 'oops': expected KEY=VALUE"),
        (["diagnose", "--configfile", "/no/such.yaml"], "--configfile /no/such.yaml: no such file"),
        (
            ["predict", "--metod", "physics", "-n"],
            "predict: no such option --metod (did you mean --method?); Snakemake's own options "
            "go after --",
        ),
        (["submit", "--kagle"], "submit: no such option --kagle (did you mean --kaggle?)"),
        (["calibrate", "--forceall"], "calibrate: no such option --forceall; Snakemake's own"),
        (
            ["predict", "results/x.csv"],
            "predict: Got unexpected extra argument(s) (results/x.csv); Snakemake's own "
            "arguments go after --",
        ),
        (
            ["predict", "-C", "calibration.time_bins=360", "-n"],
            "predict: -C calibration.time_bins=360: no such config key calibration.time_bins "
            "(did you mean calibration.time_bin_s?)",
        ),
        (
            ["predict", "-C", "calibration.time_bin_s=-5", "-n"],
            "predict: -C calibration.time_bin_s=-5: calibration.time_bin_s: -5 is less than or "
            "equal to the minimum of 0",
        ),
        (
            ["calibrate", "-C", "simulation.n_train=many"],
            "calibrate: -C simulation.n_train=many: simulation.n_train: 'many' is not of type "
            "'integer'",
        ),
        (
            ["train", "-C", "model.architecture.airs_encoder=gnm"],
            "'gnm' is not one of ['cnn', 'gnn'] (did you mean gnn?)",
        ),
        (
            ["calibrate", "-C", "data.splits=[train, val]"],
            "-C data.splits=[train, val]: data.splits.1: 'val' is not one of ['train', 'test']",
        ),
        (["calibrate", "-C", "zzz=1"], "no such config key zzz (every key: config/README.md)"),
        (
            ["simulate", "o", "--n-train", "1", "--n-test", "0", "--seed", "1", "--", "-F"],
            "simulate: takes no Snakemake arguments (nothing after --)",
        ),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(
    args: list[str], message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(args) == 2
    out, err = capfd.readouterr()
    assert err.startswith("spectramind: error: ") and message in err, err
    assert err.count("\n") == 1 and out == ""  # one line; Snakemake never started


def test_choices_show_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["predict", "--help"]) == 0
    out = capsys.readouterr().out
    assert "[constant|physics|model]" in out and "[train|test]" in out
    assert cli.main(["submit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "[constant|physics|model|auto]" in out and "after --" in out


def test_config_keys_and_override_checks() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {
                "type": "object",
                "properties": {
                    "rate_s": {"type": "number", "exclusiveMinimum": 0},
                    "mode": {"type": "string", "enum": ["fast", "slow"]},
                },
            },
            "b": {"type": "integer"},
        },
    }
    assert sorted(cli.config_keys(schema)) == ["a", "a.mode", "a.rate_s", "b"]
    cli.check_overrides(
        [("a.rate_s", 2.5, "-C a.rate_s=2.5"), ("a", {"mode": "slow"}, "g")], schema
    )
    with pytest.raises(
        cli.UsageError,
        match=r"^-C a.rates=1: no such config key a.rates \(did you mean a.rate_s\?\)$",
    ):
        cli.check_overrides([("a.rates", 1, "-C a.rates=1")], schema)
    with pytest.raises(
        cli.UsageError,
        match=r"^g: a.mode: 'fsat' is not one of \['fast', 'slow'\] \(did you mean fast\?\)$",
    ):
        cli.check_overrides([("a", {"mode": "fsat"}, "g")], schema)
    with pytest.raises(cli.UsageError, match="0 is less than or equal to the minimum of 0"):
        cli.check_overrides([("a.rate_s", 0, "x")], schema)


def test_simulate_default_matches_the_workflow_default() -> None:
    import inspect

    import yaml

    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    default = schema["properties"]["simulation"]["properties"]["second_visit_fraction"]["default"]
    param = inspect.signature(cli.simulate).parameters["second_visit_fraction"]
    assert param.default == default


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


def test_failed_rule_is_named_in_the_closing_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A data root that passes the parse-time checks (the real axes, adc_info and a physical
    star row) but whose signals are not parquet files: the calibrate job fails."""
    root = tmp_path / "data"
    planet = root / "test" / "17"
    for d in ("AIRS-CH0_calibration_0", "FGS1_calibration_0"):
        (planet / d).mkdir(parents=True)
    real = Path(__file__).resolve().parents[1] / "resources" / "ariel" / "2025"
    for f in ("adc_info.csv", "axis_info.parquet", "wavelengths.csv"):
        shutil.copyfile(real / f, root / f)
    (root / "test_star_info.csv").write_text(
        "planet_id,Rs,Ms,Ts,Mp,e,P,sma,i\n17,0.871,0.9,4798.0,1.0,0.0,2.867,8.5,89.9\n"
    )
    for f in ("AIRS-CH0_signal_0.parquet", "FGS1_signal_0.parquet"):
        (planet / f).write_text("not a parquet file\n")
    work = tmp_path / "work"  # empty: the config comes from next to the Snakefile
    rc = cli.main(
        [
            "calibrate",
            "-d",
            str(work),
            "-C",
            f"data.root={root}",
            "-C",
            "data.splits=[test]",
            "--cores",
            "1",
        ]
    )
    out, err = capfd.readouterr()
    assert rc == 1, out + err
    assert (
        "SpectraMind V50: run failed after" in err
        and "rule calibrate: log results/logs/calibrate/17.log" in err
    )
    assert err.rstrip().endswith(
        "spectramind: error: calibrate: rule calibrate (log: results/logs/calibrate/17.log) "
        "failed while calibrating every planet (Snakemake exit status 1)"
    )
    assert (
        "not a readable parquet file"
        in (work / "results" / "logs" / "calibrate" / "17.log").read_text()
    )


def test_failure_before_any_rule_says_so(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["calibrate", "-n", "-d", str(tmp_path), "-C", f"data.root={tmp_path / 'none'}"])
    out, err = capfd.readouterr()
    assert rc == 1
    assert "split folder 'train' not found" in out + err
    assert err.rstrip().endswith(
        "spectramind: error: calibrate: Snakemake stopped with exit status 1 while calibrating "
        "every planet; no rule failed (its message is above)"
    )
    assert "failed while" not in err


def test_runs_from_any_folder_with_the_workflow_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """No config/ in the working directory: the one next to the Snakefile is used."""
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["calibrate", "-n", "-d", str(tmp_path / "new"), "-C", "simulation.n_train=1"])
    out, err = capfd.readouterr()
    assert rc == 0, out + err
    assert "rule simulate_dataset:" in out + err and "rule calibrate:" in out + err
    assert str(REPO / "config" / "config.yaml") in out + err


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
