"""Command line ``spectramind``: the simulator, and the workflow's stages through Snakemake.

::

    spectramind simulate OUT --n-train N --n-test M --seed S [...]
    spectramind calibrate | train | predict | diagnose | submit | report [options] [-- SNAKEMAKE ARGS]

Every workflow command runs Snakemake (``python -m snakemake``, the same interpreter) on the
command's targets with ``--cores``, ``--profile``, ``--dry-run``, ``--configfile`` and
``--config KEY=VALUE`` overrides (dotted keys reach nested sections, values are YAML:
``--config calibration.time_bin_s=360 --config data.splits=[test]``). The overrides are
checked against the workflow's ``schemas/config.schema.yaml`` before Snakemake starts.
Snakemake's own arguments go after ``--`` and reach it unchanged; any other unknown option
is an error. Errors are one red line with a non-zero exit status: 2 for a usage or input
error, Snakemake's own status when the workflow fails.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from spectramind.constants import METHODS
from spectramind.defaults import default

try:  # recent typer versions vendor click (typer._click); older ones use click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

__all__ = [
    "app",
    "check_overrides",
    "config_keys",
    "main",
    "parse_overrides",
    "snakemake_command",
]

#: prediction methods (results/predictions/METHOD/SPLIT.csv)
#: what `submit --method` accepts: a prediction method, or "auto" (the submit rule picks one)
SUBMIT_METHODS = (*METHODS, "auto")
SPLITS = ("train", "test")
_KEY = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$")
#: Snakemake's own arguments: the part of the command line after "--" (see :func:`main`)
_SNAKEMAKE_ARGS = "snakemake_args"

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
    ctx: typer.Context,
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
    ] = default("simulation.time_scale"),
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
            help="fraction of planets observed twice (at least one when > 0); the default is "
            "the workflow's simulation.second_visit_fraction",
        ),
    ] = default("simulation.second_visit_fraction"),
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
    if (ctx.obj or {}).get(_SNAKEMAKE_ARGS):
        raise _error("simulate: takes no Snakemake arguments (nothing after --)")
    from spectramind.sim import DEVIATIONS, World, simulate_dataset

    world = World.from_mapping(None)
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


# --------------------------------------------------------------------------- overrides
def _parse_item(item: str) -> tuple[str, Any]:
    """``"a.b=1"`` -> ``("a.b", 1)`` (the value parsed as YAML; empty = null)."""
    import yaml

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
    return key, value


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[x, y]"]`` -> ``{"a": {"b": 1}, "c": ["x", "y"]}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, value = _parse_item(item)
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


def config_keys(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every key of a config schema, dotted (sections and their keys), with its sub-schema:
    ``{"data": {...}, "data.root": {...}, ...}``."""
    out: dict[str, Mapping[str, Any]] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for name, sub in node.get("properties", {}).items():
            out[prefix + name] = sub
            walk(sub, prefix + name + ".")

    walk(schema, "")
    return out


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def check_overrides(items: Sequence[tuple[str, Any, str]], schema: Mapping[str, Any]) -> None:
    """Check ``(dotted key, value, as given)`` overrides against the config schema.

    Raises :class:`UsageError` (one line) for the first key the schema does not have, with
    the closest key when one is close, or the first value its sub-schema rejects.
    """
    import jsonschema

    keys = config_keys(schema)
    for key, value, given in items:
        sub = keys.get(key)
        if sub is None:
            hint = _did_you_mean(key, sorted(keys)) or " (every key: config/README.md)"
            raise UsageError(f"{given}: no such config key {key}{hint}")
        errors = list(jsonschema.Draft202012Validator(sub).iter_errors(value))
        if errors:
            error = jsonschema.exceptions.best_match(errors)
            where = ".".join([key, *(str(p) for p in error.absolute_path)])
            hint = ""
            enum = error.schema.get("enum") if isinstance(error.schema, Mapping) else None
            if error.validator == "enum" and isinstance(error.instance, str) and enum:
                hint = _did_you_mean(error.instance, [str(e) for e in enum])
            raise UsageError(f"{given}: {where}: {error.message}{hint}")


def _load_schema(snakefile: Path) -> Mapping[str, Any] | None:
    """The config schema next to the workflow's Snakefile (None for a Snakefile without one)."""
    import yaml

    path = snakefile.parent / "schemas" / "config.schema.yaml"
    if not path.is_file():
        return None
    schema = yaml.safe_load(path.read_text())
    return schema if isinstance(schema, Mapping) else None


def _choice(value: str, choices: Sequence[str], option: str) -> str:
    if value not in choices:
        raise UsageError(
            f"{option} {value!r}: expected one of {', '.join(choices)}"
            + _did_you_mean(value, choices)
        )
    return value


# --------------------------------------------------------------------------- workflow commands
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


#: environment variable naming the file the workflow's ``onerror:`` handler writes the failed
#: jobs to (one "rule<TAB>log files" line each), read back for the closing line
FAILED_JOBS_ENV = "SPECTRAMIND_FAILED_JOBS"


def _failure_line(name: str, what: str, rc: int, failed_file: Path) -> str:
    failed = failed_file.read_text().splitlines() if failed_file.is_file() else []
    if not failed:
        return (
            f"{name}: Snakemake stopped with exit status {rc} while {what}; no rule failed "
            "(its message is above)"
        )
    jobs = []
    for line in failed:
        rule, _, logs = line.partition("\t")
        jobs.append(f"rule {rule}" + (f" (log: {logs})" if logs else " (no log)"))
    return f"{name}: {'; '.join(jobs)} failed while {what} (Snakemake exit status {rc})"


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
    extra_config: Mapping[str, Any] | None = None,
    snakemake_args: Sequence[str] = (),
) -> None:
    import yaml

    name = ctx.command.name or "spectramind"
    extra = [*snakemake_args, *((ctx.obj or {}).get(_SNAKEMAKE_ARGS, []))]
    try:
        items = [(*_parse_item(item), f"-C {item}") for item in config or []]
        items += [(k, v, f"--{k.rsplit('.', 1)[-1]} {v}") for k, v in (extra_config or {}).items()]
        overrides = parse_overrides(config or [])
        for key, value in (extra_config or {}).items():
            section, _, leaf = key.partition(".")
            overrides.setdefault(section, {})[leaf] = value
        for f in configfile or []:
            if not f.is_file():
                raise UsageError(f"--configfile {f}: no such file")
        schema = _load_schema(_find_snakefile(snakefile, directory))
        if schema is not None:
            check_overrides(items, schema)
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
                extra=extra,
            )
            typer.secho("$ " + " ".join(cmd), fg=typer.colors.BRIGHT_BLACK, err=True)
            if overrides:
                typer.secho(
                    "  config overrides: "
                    + yaml.safe_dump(overrides, default_flow_style=True).strip(),
                    fg=typer.colors.BRIGHT_BLACK,
                    err=True,
                )
            failed_file = Path(tmp) / "failed_jobs.tsv"
            env = {**os.environ, "PYTHONUNBUFFERED": "1", FAILED_JOBS_ENV: str(failed_file)}
            rc = subprocess.run(cmd, check=False, env=env).returncode
            if rc != 0:
                raise _error(_failure_line(name, what, rc, failed_file), code=rc)
    except UsageError as exc:
        raise _error(f"{name}: {exc}") from None
    typer.secho(
        f"spectramind {name}: done ({what}{', dry run' if dry_run else ''})",
        fg=typer.colors.GREEN,
        err=True,
    )


ConfigOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--config",
        "-C",
        metavar="KEY=VALUE",
        help="override a config key (dotted for nested keys, value in YAML), e.g. "
        "calibration.time_bin_s=360; checked against schemas/config.schema.yaml (every key: "
        "config/README.md); repeatable",
    ),
]
ConfigFileOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--configfile",
        metavar="FILE",
        help="config file merged over the workflow's config/config.yaml; repeatable",
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
_EPILOG = "Snakemake's own arguments go after --, e.g. spectramind {name} -- --forceall"


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

    app.command(name, help=help, epilog=_EPILOG.format(name=name))(command)


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
    help="Predict spectra (mu, sigma per bin) in submission format: results/predictions/METHOD/SPLIT.csv "
    "for each --method and --split (each split must be in data.splits).",
    epilog=_EPILOG.format(name="predict"),
)
def predict(
    ctx: typer.Context,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            metavar="[" + "|".join(METHODS) + "]",
            help=f"prediction method: {', '.join(METHODS)}; repeatable (default: all three)",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        list[str] | None,
        typer.Option(
            "--split",
            "-s",
            metavar="[" + "|".join(SPLITS) + "]",
            help=f"split: {', '.join(SPLITS)}; repeatable (default: test)",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    configfile: ConfigFileOpt = None,
    cores: CoresOpt = "all",
    profile: ProfileOpt = None,
    dry_run: DryRunOpt = False,
    snakefile: SnakefileOpt = None,
    directory: DirectoryOpt = None,
) -> None:
    try:
        methods = [_choice(m, METHODS, "--method") for m in method or METHODS]
        splits = [_choice(s, SPLITS, "--split") for s in split or ["test"]]
    except UsageError as exc:
        raise _error(f"predict: {exc}") from None
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
    help="Write results/submission.csv (validated against schemas/submission.schema.json) from the "
    "submission.method predictions of the submission.split split; with --kaggle also the offline "
    "Kaggle bundle results/kaggle/.",
    epilog=_EPILOG.format(name="submit"),
)
def submit(
    ctx: typer.Context,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            "-m",
            metavar="[" + "|".join(SUBMIT_METHODS) + "]",
            help=f"method submitted: {', '.join(SUBMIT_METHODS)} (default: config submission.method)",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            "-s",
            metavar="[" + "|".join(SPLITS) + "]",
            help=f"split submitted: {', '.join(SPLITS)} (default: config submission.split)",
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
    try:
        if method is not None:
            _choice(method, SUBMIT_METHODS, "--method")
        if split is not None:
            _choice(split, SPLITS, "--split")
    except UsageError as exc:
        raise _error(f"submit: {exc}") from None
    sub = {f"submission.{k}": v for k, v in (("method", method), ("split", split)) if v is not None}
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
        extra_config=sub,
    )
    if kaggle and not dry_run:
        bundle_summary((directory or Path.cwd()) / "results" / "kaggle")


def bundle_summary(bundle: Path) -> None:
    """Print the Kaggle bundle's files and size (from its bundle.json)."""
    meta_file = bundle / "bundle.json"
    if not meta_file.is_file():
        raise _error(f"submit: {meta_file}: the Kaggle bundle was not written")
    meta = json.loads(meta_file.read_text())
    total = sum(f["bytes"] for f in meta["files"])
    wheels = sum(f["bytes"] for f in meta["files"] if f["path"].startswith("wheels/"))
    typer.echo(
        f"Kaggle bundle {bundle}: {len(meta['files'])} files, {total / 2**20:.1f} MiB "
        f"({len(meta['dependencies'])} dependencies the image lacks: {wheels / 2**20:.1f} MiB of "
        f"wheels for Python {', '.join(meta['python'])}; file list with sha256 in bundle.json)"
    )


@app.command(
    help="Write the HTML report of the finished run (snakemake --report): every figure and the score "
    "table with its caption.",
    epilog=_EPILOG.format(name="report"),
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


def _usage_error_line(exc: click_exceptions.UsageError) -> str:
    """One line for a command-line error of click: which command, what, and the closest option."""
    command = exc.ctx.command.name if exc.ctx is not None else None
    prefix = f"{command}: " if command and command != "spectramind" else ""
    if isinstance(exc, click_exceptions.NoSuchOption):
        hint = f" (did you mean {exc.possibilities[0]}?)" if exc.possibilities else ""
        return (
            f"{prefix}no such option {exc.option_name}{hint}; Snakemake's own options go after --"
        )
    message = exc.format_message()
    if message.startswith("Got unexpected extra argument"):
        message += "; Snakemake's own arguments go after --"
    return prefix + message


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``spectramind``); returns the exit status instead of exiting.

    What follows the first ``--`` is kept for Snakemake (see :func:`_run_workflow`); the rest is
    parsed strictly: an unknown option, or an extra argument, is a one-line error (status 2).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    snakemake_args: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, snakemake_args = args[:cut], args[cut + 1 :]
    try:
        rv = app(
            args=args,
            prog_name="spectramind",
            standalone_mode=False,
            obj={_SNAKEMAKE_ARGS: snakemake_args},
        )
    except click_exceptions.NoArgsIsHelpError as exc:
        typer.echo(exc.format_message())
        return 2
    except click_exceptions.UsageError as exc:
        typer.secho(
            f"spectramind: error: {_usage_error_line(exc)}",
            fg=typer.colors.RED,
            bold=True,
            err=True,
        )
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.secho("spectramind: aborted", fg=typer.colors.RED, err=True)
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
