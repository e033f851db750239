"""Command line ``spectramind``: the simulator, and the workflow's stages through Snakemake.

::

    spectramind simulate OUT --n-train N --n-test M --seed S [...]
    spectramind calibrate | train | predict | diagnose | submit | report [options] [-- SNAKEMAKE ARGS]

Every workflow command runs Snakemake (``python -m snakemake``, the same interpreter) on the
command's targets with ``--cores``, ``--profile``, ``--dry-run``, ``--configfile`` and
``--config KEY=VALUE`` overrides (dotted keys reach nested sections, values are YAML:
``--config calibration.time_bin_s=360 --config data.splits=[test]``). Anything after ``--``
goes to Snakemake unchanged. Errors are printed in red with a non-zero exit status: 2 for a
usage or input error, Snakemake's own status when the workflow fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["app", "main", "parse_overrides", "snakemake_command"]

METHODS = ("constant", "physics", "model")
SPLITS = ("train", "test")
_KEY = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$")
_WORKFLOW_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}

app = typer.Typer(
    name="spectramind",
    help="SpectraMind V50: Ariel Data Challenge 2025 raw frames -> calibrated cubes -> spectra (mu, sigma).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class UsageError(ValueError):
    """A problem with the command line or its inputs (exit status 2)."""


def _error(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"spectramind: error: {message}", fg=typer.colors.RED, bold=True, err=True)
    return typer.Exit(code)


# --------------------------------------------------------------------------- simulate
@app.command(
    help="Write a simulated dataset in the exact Ariel Data Challenge 2025 layout: raw FGS1/AIRS-CH0 "
    "frames, calibration maps, star info, labels (train.csv) and test truth (test_truth.csv)."
)
def simulate(
    out: Annotated[Path, typer.Argument(help="output data root (created)", show_default=False)],
    n_train: Annotated[
        int, typer.Option("--n-train", help="planets in the train split", show_default=False)
    ],
    n_test: Annotated[
        int, typer.Option("--n-test", help="planets in the test split", show_default=False)
    ],
    seed: Annotated[
        int, typer.Option("--seed", help="random seed (deterministic output)", show_default=False)
    ],
    time_scale: Annotated[
        int,
        typer.Option(
            "--time-scale",
            help="K: K times fewer frame pairs over the same 7.5 h, noise / sqrt(K); 1 = full size",
        ),
    ] = 1,
    stars: Annotated[
        Path | None,
        typer.Option(
            "--stars",
            help="CSV in the star_info format; planet ids and geometry come from its rows",
        ),
    ] = None,
    spectra: Annotated[
        Path | None,
        typer.Option("--spectra", help="CSV in the train.csv format: true spectra used as given"),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration",
            help="folder with AIRS-CH0_calibration_0/ and FGS1_calibration_0/ maps (default: the real maps)",
        ),
    ] = None,
    second_visit_fraction: Annotated[
        float,
        typer.Option(
            "--second-visit-fraction",
            help="fraction of planets observed twice (at least one when > 0)",
        ),
    ] = 0.1,
    without: Annotated[
        list[str] | None,
        typer.Option(
            "--without",
            help="switch a deviation of the simulated world off (repeatable): geometry, "
            "timing_offset, drift, ramp, granulation, breathing, maps, cosmic_tracks, "
            "visit_change, spectra",
        ),
    ] = None,
) -> None:
    from spectramind.sim import DEVIATIONS, World, simulate_dataset

    world = World()
    for name in without or []:
        if name not in DEVIATIONS:
            raise _error(f"simulate: --without {name!r}: choose from {', '.join(DEVIATIONS)}")
        world = world.without(name)

    t = time.perf_counter()
    try:
        simulate_dataset(
            out,
            n_train=n_train,
            n_test=n_test,
            seed=seed,
            time_scale=time_scale,
            stars=None if stars is None else str(stars),
            spectra=None if spectra is None else str(spectra),
            calibration=None if calibration is None else str(calibration),
            second_visit_fraction=second_visit_fraction,
            world=world,
            log=lambda msg: print(msg, file=sys.stderr, flush=True),
        )
    except (ValueError, OSError) as exc:  # DataError is a ValueError: name the file, no traceback
        raise _error(f"simulate: {exc}") from None
    print(f"wrote {out} in {time.perf_counter() - t:.1f} s", file=sys.stderr)


# --------------------------------------------------------------------------- workflow commands
def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[x, y]"]`` -> ``{"a": {"b": 1}, "c": ["x", "y"]}`` (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise UsageError(
                f"--config {item!r}: expected KEY=VALUE with KEY like data.root or "
                "calibration.time_bin_s"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise UsageError(
                f"--config {item!r}: the value is not valid YAML ({exc.problem})"
            ) from None
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(
                    f"--config {item!r}: {part} is set to a value and used as a section"
                )
            node = child
        node[parts[-1]] = value
    return out


def _find_snakefile(snakefile: Path | None, directory: Path | None) -> Path:
    if snakefile is not None:
        if not snakefile.is_file():
            raise UsageError(f"--snakefile {snakefile}: no such file")
        return snakefile.resolve()
    for base in (directory or Path.cwd(), Path(__file__).resolve().parents[2]):
        if (base / "Snakefile").is_file():
            return (base / "Snakefile").resolve()
    raise UsageError(
        "no Snakefile in the working directory or in the source checkout; run from the "
        "repository or pass --snakefile"
    )


def snakemake_command(
    targets: Sequence[str],
    *,
    cores: str,
    profile: Path | None = None,
    dry_run: bool = False,
    configfiles: Sequence[Path] = (),
    override_file: Path | None = None,
    snakefile: Path | None = None,
    directory: Path | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``python -m snakemake`` command line a workflow command runs."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        *targets,
        "--snakefile",
        str(_find_snakefile(snakefile, directory)),
    ]
    if directory is not None:
        cmd += ["--directory", str(directory)]
    if not (cores == "all" or cores.isdigit() and int(cores) > 0):
        raise UsageError(f"--cores {cores!r}: expected a positive integer or 'all'")
    cmd += ["--cores", cores]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    files = [str(f) for f in configfiles] + ([str(override_file)] if override_file else [])
    if files:
        cmd += ["--configfile", *files]
    if dry_run:
        cmd.append("--dry-run")
    return cmd + list(extra)


def _run_workflow(
    ctx: typer.Context,
    targets: Sequence[str],
    *,
    what: str,
    config: list[str] | None,
    configfile: list[Path] | None,
    cores: str,
    profile: Path | None,
    dry_run: bool,
    snakefile: Path | None,
    directory: Path | None,
    extra_config: dict[str, Any] | None = None,
    snakemake_args: Sequence[str] = (),
) -> None:
    import yaml

    try:
        overrides = parse_overrides(config or [])
        for section, values in (extra_config or {}).items():
            overrides.setdefault(section, {}).update(values)
        for f in configfile or []:
            if not f.is_file():
                raise UsageError(f"--configfile {f}: no such file")
        with tempfile.TemporaryDirectory(prefix="spectramind-cli-") as tmp:
            override_file = None
            if overrides:
                override_file = Path(tmp) / "overrides.yaml"
                override_file.write_text(yaml.safe_dump(overrides, sort_keys=False))
            cmd = snakemake_command(
                targets,
                cores=cores,
                profile=profile,
                dry_run=dry_run,
                configfiles=configfile or [],
                override_file=override_file,
                snakefile=snakefile,
                directory=directory,
                extra=[*snakemake_args, *ctx.args],
            )
            typer.secho("$ " + " ".join(cmd), fg=typer.colors.BRIGHT_BLACK, err=True)
            if overrides:
                typer.secho(
                    "  config overrides: "
                    + yaml.safe_dump(overrides, default_flow_style=True).strip(),
                    fg=typer.colors.BRIGHT_BLACK,
                    err=True,
                )
            rc = subprocess.run(
                cmd, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            ).returncode
    except UsageError as exc:
        raise _error(f"{ctx.command.name}: {exc}") from None
    if rc != 0:
        raise _error(
            f"{ctx.command.name}: Snakemake failed with exit status {rc} while {what} "
            "(the failing rule and its log are named above)",
            code=rc,
        )
    typer.secho(
        f"spectramind {ctx.command.name}: done ({what}{', dry run' if dry_run else ''})",
        fg=typer.colors.GREEN,
        err=True,
    )


ConfigOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--config",
        "-C",
        metavar="KEY=VALUE",
        help="override a config key (dotted for nested keys, value in YAML), e.g. calibration.time_bin_s=360; repeatable",
    ),
]
ConfigFileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--configfile",
        metavar="FILE",
        help="config file merged over config/config.yaml; repeatable",
    ),
]
CoresOpt = Annotated[
    str, typer.Option("--cores", "-c", help="cores Snakemake may use: a number or 'all'")
]
ProfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--profile",
        help="Snakemake profile folder, e.g. profiles/slurm or profiles/local",
        show_default=False,
    ),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="only show what would run")]
SnakefileOpt = Annotated[
    Path | None,
    typer.Option(
        "--snakefile",
        help="the workflow's Snakefile (default: ./Snakefile, else the source checkout's)",
        show_default=False,
    ),
]
DirectoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--directory",
        "-d",
        help="working directory holding results/ (default: the current one)",
        show_default=False,
    ),
]


def _target_command(name: str, target: str, *, what: str, help: str) -> None:
    """Register ``spectramind NAME``: build the workflow target ``target`` (the common options
    only)."""

    def command(
        ctx: typer.Context,
        config: ConfigOpt = None,
        configfile: ConfigFileOpt = None,
        cores: CoresOpt = "all",
        profile: ProfileOpt = None,
        dry_run: DryRunOpt = False,
        snakefile: SnakefileOpt = None,
        directory: DirectoryOpt = None,
    ) -> None:
        _run_workflow(
            ctx,
            [target],
            what=what,
            config=config,
            configfile=configfile,
            cores=cores,
            profile=profile,
            dry_run=dry_run,
            snakefile=snakefile,
            directory=directory,
        )

    app.command(name, context_settings=_WORKFLOW_CONTEXT, help=help)(command)


_target_command(
    "calibrate",
    "calibrate_all",
    what="calibrating every planet",
    help="Calibrate every planet into its cube results/cubes/PLANET.nc (ADC, linearity, dark, flat, CDS, "
    "photometry, trace extraction, phase). Simulates the default dataset first when data.root is null.",
)
_target_command(
    "train",
    "train_model",
    what="training the model",
    help="Train the model on the train split (cubes and physics fits made first): results/model/model.pt, "
    "model_config.json and history.csv.",
)


@app.command(
    context_settings=_WORKFLOW_CONTEXT,
    help="Predict spectra (mu, sigma per bin) in submission format: results/predictions/METHOD/SPLIT.csv "
    "for each --method and --split (each split must be in data.splits).",
)
def predict(
    ctx: typer.Context,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method", "-m", help="constant, physics or model; repeatable (default: all three)"
        ),
    ] = None,
    split: Annotated[
        list[str] | None,
        typer.Option("--split", "-s", help="train or test; repeatable (default: test)"),
    ] = None,
    config: ConfigOpt = None,
    configfile: ConfigFileOpt = None,
    cores: CoresOpt = "all",
    profile: ProfileOpt = None,
    dry_run: DryRunOpt = False,
    snakefile: SnakefileOpt = None,
    directory: DirectoryOpt = None,
) -> None:
    methods, splits = method or list(METHODS), split or ["test"]
    bad = [m for m in methods if m not in METHODS] + [s for s in splits if s not in SPLITS]
    if bad:
        raise _error(
            f"predict: unknown method or split {bad}; methods: {', '.join(METHODS)}; splits: "
            f"{', '.join(SPLITS)}"
        )
    targets = [f"results/predictions/{m}/{s}.csv" for m in methods for s in splits]
    _run_workflow(
        ctx,
        targets,
        what=f"predicting {', '.join(splits)} with {', '.join(methods)}",
        config=config,
        configfile=configfile,
        cores=cores,
        profile=profile,
        dry_run=dry_run,
        snakefile=snakefile,
        directory=directory,
    )


_target_command(
    "diagnose",
    "diagnose",
    what="drawing the diagnostics",
    help="Diagnostic figures in results/diagnostics/: raw frames, light curves and spectrum of a sample of "
    "planets (diagnostics.planets / diagnostics.sample), score and RMSE per bin, z-scores, coverage, "
    "run time per rule.",
)


@app.command(
    context_settings=_WORKFLOW_CONTEXT,
    help="Write results/submission.csv (validated against schemas/submission.schema.json) from the "
    "submission.method predictions of the submission.split split; with --kaggle also the offline "
    "Kaggle bundle results/kaggle/.",
)
def submit(
    ctx: typer.Context,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            "-m",
            help="constant, physics or model (default: config submission.method)",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            "-s",
            help="train or test (default: config submission.split)",
            show_default=False,
        ),
    ] = None,
    kaggle: Annotated[
        bool, typer.Option("--kaggle/--no-kaggle", help="also build the Kaggle bundle")
    ] = False,
    config: ConfigOpt = None,
    configfile: ConfigFileOpt = None,
    cores: CoresOpt = "all",
    profile: ProfileOpt = None,
    dry_run: DryRunOpt = False,
    snakefile: SnakefileOpt = None,
    directory: DirectoryOpt = None,
) -> None:
    if method is not None and method not in METHODS:
        raise _error(f"submit: --method {method!r}: expected one of {', '.join(METHODS)}")
    if split is not None and split not in SPLITS:
        raise _error(f"submit: --split {split!r}: expected one of {', '.join(SPLITS)}")
    sub = {k: v for k, v in (("method", method), ("split", split)) if v is not None}
    targets = ["submit"] + (["results/kaggle"] if kaggle else [])
    _run_workflow(
        ctx,
        targets,
        what="writing the submission" + (" and the Kaggle bundle" if kaggle else ""),
        config=config,
        configfile=configfile,
        cores=cores,
        profile=profile,
        dry_run=dry_run,
        snakefile=snakefile,
        directory=directory,
        extra_config={"submission": sub} if sub else None,
    )


@app.command(
    context_settings=_WORKFLOW_CONTEXT,
    help="Write the HTML report of the finished run (snakemake --report): every figure and the score "
    "table with its caption.",
)
def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="the report file")] = Path("results/report.html"),
    config: ConfigOpt = None,
    configfile: ConfigFileOpt = None,
    snakefile: SnakefileOpt = None,
    directory: DirectoryOpt = None,
) -> None:
    _run_workflow(
        ctx,
        [],
        what=f"writing {out}",
        config=config,
        configfile=configfile,
        cores="1",
        profile=None,
        dry_run=False,
        snakefile=snakefile,
        directory=directory,
        snakemake_args=["--report", str(out)],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``spectramind``); returns the exit status instead of exiting."""
    try:
        app(args=None if argv is None else list(argv), prog_name="spectramind")
    except SystemExit as exc:
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
