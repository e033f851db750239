"""Lineage of a run: the manifest of its final artifacts and a structured log of its jobs.

Manifest (``results/manifest.json``, schema ``schemas/manifest.schema.json``)::

    {"format": "spectramind-manifest", "format_version": 1, "created": ISO time,
     "config": {...}, "config_sha256": hex, "git": {"commit": hex | null, "branch": ...},
     "software": {"python": ..., "platform": ..., "packages": {name: version | null}},
     "artifacts": [{"path": ..., "sha256": hex, "bytes": n}, ...], "events": {...},
     "sbom": {"path": ..., "sha256": hex, "format": "CycloneDX", "spec_version": ...,
              "components": n}}

``sbom`` is present when the CycloneDX SBOM of the installed environment (``make sbom``,
``results/sbom.json``) exists when the manifest is written.

Events (``results/logs/events.jsonl``, schema ``schemas/events.schema.json``): one JSON
object per line, written while Snakemake runs jobs. A job writes a ``started`` line when it
is launched and a ``success`` or ``error`` line when it ends, with the rule, its wildcards
(and the planet id when it has one), start and end times, duration, host, process id and
the SLURM job id (``$SLURM_JOB_ID``) if the job runs inside a SLURM allocation.

The events come from Snakemake's own job log records (a :class:`logging.Handler` on
Snakemake's logger, attached by the Snakefile's ``onstart:`` hook through
:func:`attach_event_log`), so no rule script has to write them. ``onstart:`` is Snakemake's
public hook that runs once, in the process that schedules the jobs, before the first job
starts, and never in a dry run nor inside a job (jobs run with ``--no-hooks``): so one
started/end pair per job, and none from a dry run. Under ``--executor slurm`` that process
is the submitting one: a job's start is its submission, its end is when SLURM reports it
done, and its ``slurm_job_id`` is the one the executor reported on submission (``host`` and
``pid`` are those of the submitting process).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from spectramind.atomic import atomic_write_text

__all__ = [
    "EVENT_STATUSES",
    "MANIFEST_FORMAT",
    "PACKAGES",
    "EventLog",
    "LineageError",
    "attach_event_log",
    "build_manifest",
    "config_sha256",
    "git_info",
    "jsonable",
    "package_versions",
    "read_events",
    "sha256_file",
    "validate",
    "validate_events",
    "write_event",
    "write_manifest",
]

MANIFEST_FORMAT = "spectramind-manifest"
MANIFEST_VERSION = 1
EVENT_STATUSES = ("started", "success", "error")
#: Distributions whose versions the manifest records (None where not installed).
PACKAGES = (
    "spectramind",
    "snakemake",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "xarray",
    "h5netcdf",
    "astropy",
    "numba",
    "torch",
    "matplotlib",
    "jsonschema",
    "pyyaml",
    "typer",
)
_CHUNK = 1 << 20
#: The SLURM executor plugin's record of a submission (its job id for a Snakemake job id)
SLURM_SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")


class LineageError(ValueError):
    """A manifest or event log that does not satisfy its schema (the first problems named)."""


# --------------------------------------------------------------------------- hashing
def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def jsonable(obj: Any) -> Any:
    """JSON-able copy of a config (Snakemake's Config / Namedlist / Path values included)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def config_sha256(config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``config`` (sorted keys, no whitespace): equal configs
    hash equally whatever their key order."""
    text = json.dumps(jsonable(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _artifact_files(path: Path) -> Iterator[Path]:
    if path.is_dir():  # Snakemake's marker of a directory output is not part of the artifact
        yield from sorted(
            p for p in path.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"
        )
    else:
        yield path


# --------------------------------------------------------------------------- provenance
def git_info(repo: str | Path) -> dict[str, Any]:
    """``{"commit", "branch"}`` of the git checkout holding ``repo`` (read from ``.git``
    without running git; both None outside a checkout or for an unreadable one)."""
    out: dict[str, Any] = {"commit": None, "branch": None}
    start = Path(repo).resolve()
    gitdir = next((d / ".git" for d in (start, *start.parents) if (d / ".git").exists()), None)
    if gitdir is None:
        return out
    try:
        if gitdir.is_file():  # worktree / submodule: "gitdir: <path>"
            gitdir = (gitdir.parent / gitdir.read_text().split(":", 1)[1].strip()).resolve()
        head = (gitdir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            out["commit"] = head
            return out
        ref = head.split(":", 1)[1].strip()
        out["branch"] = ref.removeprefix("refs/heads/")
        common = gitdir
        if (gitdir / "commondir").is_file():
            common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
        for base in (gitdir, common):
            if (base / ref).is_file():
                out["commit"] = (base / ref).read_text().strip()
                return out
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name == ref:
                    out["commit"] = sha
                    return out
    except OSError:
        pass
    return out


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """``{distribution: version}``; None where the distribution is not installed."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="milliseconds")


def build_manifest(
    *,
    config: Mapping[str, Any],
    artifacts: Iterable[str | Path],
    repo: str | Path,
    events: str | Path | None = None,
    sbom: str | Path | None = None,
    relative_to: str | Path | None = None,
) -> dict:
    """The manifest of a run: config + hash, git commit, versions, sha256 of every artifact.

    ``artifacts`` are files or folders (every file below a folder is listed); paths are
    written relative to ``relative_to`` (the working directory by default). ``events`` (the
    JSONL event log, if it exists) is summarised by its line count, not hashed: it keeps
    growing while the run goes on. ``sbom`` (the CycloneDX JSON SBOM, if it exists) is
    referenced by path, sha256, spec version and component count; a file there that is not
    a CycloneDX JSON document raises :class:`LineageError`.
    """
    base = Path(relative_to or Path.cwd()).resolve()
    files: list[dict[str, Any]] = []
    for item in artifacts:
        for f in _artifact_files(Path(item)):
            p = f.resolve()
            name = str(p.relative_to(base)) if p.is_relative_to(base) else str(p)
            files.append({"path": name, "sha256": sha256_file(p), "bytes": p.stat().st_size})
    files.sort(key=lambda d: d["path"])
    cfg = jsonable(config)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "created": _now(),
        "config": cfg,
        "config_sha256": config_sha256(cfg),
        "git": git_info(repo),
        "software": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": package_versions(),
        },
        "artifacts": files,
    }
    if events is not None and Path(events).is_file():
        evs = read_events(events)
        manifest["events"] = {
            "path": str(events),
            "count": len(evs),
            "errors": sum(e["status"] == "error" for e in evs),
        }
    if sbom is not None and Path(sbom).is_file():
        manifest["sbom"] = sbom_reference(sbom)
    return manifest


def sbom_reference(path: str | Path) -> dict[str, Any]:
    """Path, sha256, format, spec version and component count of a CycloneDX JSON SBOM."""
    path = Path(path)
    try:
        data = path.read_bytes()
        doc = json.loads(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LineageError(f"{path}: not a readable JSON SBOM ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise LineageError(f"{path}: not a CycloneDX SBOM (bomFormat is not 'CycloneDX')")
    components = doc.get("components", [])
    if not isinstance(components, list):
        raise LineageError(f"{path}: 'components' is not a list")
    return {
        "path": str(path),
        "sha256": hashlib.sha256(data).hexdigest(),
        "format": "CycloneDX",
        "spec_version": str(doc.get("specVersion", "")),
        "components": len(components),
    }


def validate(
    document: Any,
    schema: str | Path | Mapping[str, Any],
    *,
    what: str = "document",
    max_errors: int = 5,
) -> None:
    """Validate ``document`` with JSON Schema ``schema`` (a path or a dict); raise
    :class:`LineageError` naming up to ``max_errors`` problems (path in the document: message)."""
    import jsonschema

    if not isinstance(schema, Mapping):
        schema = json.loads(Path(schema).read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(
        validator_cls(schema).iter_errors(document), key=lambda e: list(e.absolute_path)
    )
    if errors:
        lines = [
            f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in errors[:max_errors]
        ]
        more = f" (+{len(errors) - max_errors} more)" if len(errors) > max_errors else ""
        raise LineageError(f"{what} does not satisfy its schema: " + "; ".join(lines) + more)


def write_manifest(manifest: Mapping[str, Any], path: str | Path, schema: str | Path) -> None:
    """Validate against ``schema``, then write ``path`` atomically."""
    validate(manifest, schema, what="manifest")
    atomic_write_text(path, json.dumps(manifest, indent=2, allow_nan=False) + "\n")


# --------------------------------------------------------------------------- events
def write_event(path: str | Path, event: Mapping[str, Any]) -> None:
    """Append one JSON line to ``path`` under an exclusive lock (many processes may write:
    concurrent SLURM jobs on a shared file system)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(dict(event), separators=(",", ":"), allow_nan=False) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line)
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Every event of a JSONL log; a line that is not JSON is a :class:`LineageError`."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise LineageError(f"{path}:{n}: not JSON ({exc.msg})") from None
    return out


def validate_events(path: str | Path, schema: str | Path) -> list[dict[str, Any]]:
    """Read the event log and validate every line with ``schema``; return the events."""
    schema_doc = json.loads(Path(schema).read_text())
    events = read_events(path)
    for n, event in enumerate(events, 1):
        validate(event, schema_doc, what=f"{path} event {n}")
    return events


def _planet(wildcards: Mapping[str, Any]) -> int | None:
    value = wildcards.get("planet")
    return int(value) if value is not None and str(value).isdigit() else None


class EventLog(logging.Handler):
    """Turns Snakemake's job log records into JSONL events (see the module docstring).

    ``should_record`` is asked on every record (the run mode is only known once Snakemake
    starts executing, after the workflow is parsed): events are written only when it
    returns True.
    """

    def __init__(
        self, path: str | Path, *, should_record: Callable[[], bool] = lambda: True
    ) -> None:
        super().__init__(level=logging.DEBUG)
        self.path = Path(path).resolve()
        self.should_record = should_record
        self.host = socket.gethostname()
        self.slurm_job_id = os.environ.get("SLURM_JOB_ID")
        self._started: dict[int, dict[str, Any]] = {}
        self.failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        """One line on stderr, once (a read-only or full results/ fails every record), not
        logging's traceback per record; the run itself reports what it cannot write."""
        if not self.failed:
            self.failed = True
            exc = sys.exc_info()[1]
            print(f"spectramind: cannot write the event log {self.path}: {exc}", file=sys.stderr)

    def _event(
        self, job: Mapping[str, Any], status: str, end: str | None, duration: float | None
    ) -> dict:
        """One event with the keys in schema order."""
        return {
            "rule": job["rule"],
            "jobid": job["jobid"],
            "planet": job["planet"],
            "wildcards": job["wildcards"],
            "status": status,
            "start": job["start"],
            "end": end,
            "duration_s": duration,
            "host": self.host,
            "pid": os.getpid(),
            "slurm_job_id": job.get("slurm_job_id") or self.slurm_job_id,
            "threads": job["threads"],
        }

    def _note_submission(self, record: logging.LogRecord) -> None:
        """Keep the SLURM job id the executor reports for a started job (its end event)."""
        try:
            found = SLURM_SUBMITTED.search(record.getMessage())
        except Exception:  # a record whose message cannot be formatted is not ours
            return
        if found and int(found.group(1)) in self._started:
            self._started[int(found.group(1))]["slurm_job_id"] = found.group(2)

    def emit(self, record: logging.LogRecord) -> None:
        rec = vars(record)  # Snakemake's fields arrive as the record's `extra` attributes
        event = rec.get("event")
        if event is None:
            self._note_submission(record)
            return
        kind = str(getattr(event, "value", event))
        try:
            if kind not in ("job_info", "job_finished", "job_error") or not self.should_record():
                return
            when = _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc).astimezone()
            stamp = when.isoformat(timespec="milliseconds")
            job: dict[str, Any] | None
            if kind == "job_info":
                wildcards = dict(rec.get("wildcards") or {})
                threads = rec.get("threads")
                job = {
                    "rule": rec["rule_name"],
                    "jobid": int(rec["jobid"]),
                    "planet": _planet(wildcards),
                    "wildcards": {str(k): str(v) for k, v in wildcards.items()},
                    "start": stamp,
                    "threads": int(threads) if threads is not None else None,
                    "t0": record.created,
                }
                self._started[job["jobid"]] = job
                write_event(self.path, self._event(job, "started", None, None))
                return
            jobid = int(rec["job_id"] if kind == "job_finished" else rec["jobid"])
            job = self._started.pop(jobid, None)
            if job is None:  # no start record (e.g. an error before launch)
                if kind == "job_finished":
                    return
                job = {
                    "rule": rec["rule_name"],
                    "jobid": jobid,
                    "planet": None,
                    "wildcards": {},
                    "start": stamp,
                    "threads": None,
                    "t0": record.created,
                }
            duration = round(max(record.created - job["t0"], 0.0), 3)
            write_event(
                self.path,
                self._event(job, "success" if kind == "job_finished" else "error", stamp, duration),
            )
        except Exception:  # never let lineage break the run
            self.handleError(record)


def attach_event_log(path: str | Path, logger: logging.Logger | None = None) -> EventLog:
    """The :class:`EventLog` writing ``path`` on ``logger`` (Snakemake's by default), added
    once per process: call it from the Snakefile's ``onstart:`` hook (see the module
    docstring), which runs only when the jobs are really run."""
    if logger is None:
        from snakemake.logging import logger as sm_logger

        logger = sm_logger
    for h in logger.handlers:
        if isinstance(h, EventLog) and h.path == Path(path).resolve():
            return h
    handler = EventLog(path)
    logger.addHandler(handler)
    return handler
