"""Lineage: hashes, git commit, the manifest and its schema, the JSONL job events."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import socket
from pathlib import Path

import pytest
import yaml

from conftest import link_workflow
from spectramind import io, lineage
from spectramind.lineage import EventLog, LineageError

REPO = Path(__file__).resolve().parents[1]
MANIFEST_SCHEMA = REPO / "schemas" / "manifest.schema.json"
EVENTS_SCHEMA = REPO / "schemas" / "events.schema.json"
ABC_SHA256 = (
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 example
)


def test_sha256_file_known_answer(tmp_path: Path) -> None:
    (tmp_path / "abc").write_bytes(b"abc")
    assert lineage.sha256_file(tmp_path / "abc") == ABC_SHA256
    big = tmp_path / "big"
    big.write_bytes(b"x" * (3 * 2**20 + 7))  # crosses the 1 MiB chunks
    assert lineage.sha256_file(big) == hashlib.sha256(big.read_bytes()).hexdigest()


def test_config_hash_ignores_key_order_and_sees_values() -> None:
    a = {"data": {"root": None, "splits": ["train", "test"]}, "x": 1.5}
    b = {"x": 1.5, "data": {"splits": ["train", "test"], "root": None}}
    assert lineage.config_sha256(a) == lineage.config_sha256(b)
    assert lineage.config_sha256(a) != lineage.config_sha256({**a, "x": 1.6})
    assert lineage.config_sha256(a) != lineage.config_sha256(
        {**a, "data": {"root": None, "splits": ["test", "train"]}}
    )
    text = '{"data":{"root":null,"splits":["train","test"]},"x":1.5}'
    assert lineage.config_sha256(a) == hashlib.sha256(text.encode()).hexdigest()


def fake_git(
    root: Path, head: str, refs: dict[str, str] | None = None, packed: str | None = None
) -> None:
    (root / ".git" / "refs" / "heads").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text(head + "\n")
    for ref, sha in (refs or {}).items():
        (root / ".git" / ref).write_text(sha + "\n")
    if packed:
        (root / ".git" / "packed-refs").write_text(packed)


def test_git_info_reads_branch_detached_and_packed_refs(tmp_path: Path) -> None:
    sha = "a" * 40
    fake_git(tmp_path / "loose", "ref: refs/heads/main", {"refs/heads/main": sha})
    (tmp_path / "loose" / "sub").mkdir()
    assert lineage.git_info(tmp_path / "loose" / "sub") == {"commit": sha, "branch": "main"}
    fake_git(tmp_path / "detached", "b" * 40)
    assert lineage.git_info(tmp_path / "detached") == {"commit": "b" * 40, "branch": None}
    fake_git(
        tmp_path / "packed",
        "ref: refs/heads/dev",
        packed=f"# pack-refs\n{'c' * 40} refs/heads/dev\n",
    )
    assert lineage.git_info(tmp_path / "packed") == {"commit": "c" * 40, "branch": "dev"}
    (tmp_path / "nogit").mkdir()
    info = lineage.git_info(tmp_path / "nogit")
    assert info["commit"] is None or len(info["commit"]) == 40  # tmp may sit inside a checkout


def test_build_manifest_hashes_files_and_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("results/kaggle/sub").mkdir(parents=True)
    Path("results/a.csv").write_bytes(b"abc")
    Path("results/kaggle/sub/b.bin").write_bytes(b"")
    Path("results/kaggle/.snakemake_timestamp").write_bytes(b"")
    config = {"data": {"root": None, "splits": ["test"]}}
    m = lineage.build_manifest(
        config=config, artifacts=["results/a.csv", "results/kaggle"], repo=REPO
    )
    assert m["artifacts"] == [
        {"path": "results/a.csv", "sha256": ABC_SHA256, "bytes": 3},
        {"path": "results/kaggle/sub/b.bin", "sha256": hashlib.sha256(b"").hexdigest(), "bytes": 0},
    ]
    assert m["config_sha256"] == lineage.config_sha256(config)
    assert m["software"]["packages"]["spectramind"] and m["software"]["packages"]["snakemake"]
    lineage.write_manifest(m, "results/manifest.json", MANIFEST_SCHEMA)
    assert json.loads(Path("results/manifest.json").read_text()) == m


def test_manifest_references_sbom_when_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("f").write_bytes(b"abc")
    m = lineage.build_manifest(
        config={"data": {}}, artifacts=["f"], repo=tmp_path, sbom="sbom.json"
    )
    assert "sbom" not in m  # absent file: not referenced
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "a"}] * 3}
    Path("sbom.json").write_text(json.dumps(bom))
    m = lineage.build_manifest(
        config={"data": {}}, artifacts=["f"], repo=tmp_path, sbom="sbom.json"
    )
    assert m["sbom"] == {
        "path": "sbom.json",
        "sha256": hashlib.sha256(Path("sbom.json").read_bytes()).hexdigest(),
        "format": "CycloneDX",
        "spec_version": "1.6",
        "components": 3,
    }
    lineage.write_manifest(m, "manifest.json", MANIFEST_SCHEMA)
    m["sbom"]["components"] = -1
    with pytest.raises(LineageError, match="sbom/components"):
        lineage.validate(m, MANIFEST_SCHEMA)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "not a readable JSON SBOM"), ('{"bomFormat": "SPDX"}', "not a CycloneDX SBOM")],
)
def test_sbom_reference_rejects_other_files(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "sbom.json").write_text(text)
    with pytest.raises(LineageError, match=f"sbom.json: {message}"):
        lineage.sbom_reference(tmp_path / "sbom.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("config_sha256"), "'config_sha256' is a required property"),
        (
            lambda m: m["artifacts"][0].update(sha256="xyz"),
            "artifacts/0/sha256: 'xyz' does not match",
        ),
        (lambda m: m["git"].update(commit="HEAD"), "git/commit"),
        (lambda m: m.update(artifacts=[]), "artifacts: [] should be non-empty"),
    ],
)
def test_manifest_schema_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("f").write_bytes(b"abc")
    m = lineage.build_manifest(config={"data": {}}, artifacts=["f"], repo=tmp_path)
    lineage.validate(m, MANIFEST_SCHEMA)
    change(m)
    with pytest.raises(LineageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lineage.write_manifest(m, tmp_path / "manifest.json", MANIFEST_SCHEMA)
    assert not (tmp_path / "manifest.json").exists()


# --------------------------------------------------------------------------- events
class Event:
    def __init__(self, value: str) -> None:
        self.value = value


def record(kind: str, created: float, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("snakemake", logging.INFO, __file__, 0, kind, None, None)
    rec.created = created
    rec.event = Event(kind)
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_event_log_turns_job_records_into_schema_valid_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    path = tmp_path / "logs" / "events.jsonl"
    h = EventLog(path)
    h.handle(
        record(
            "job_info",
            1000.0,
            jobid=3,
            rule_name="calibrate",
            wildcards={"planet": "123"},
            threads=1,
        )
    )
    h.handle(record("job_info", 1001.0, jobid=4, rule_name="train_model", wildcards={}, threads=2))
    h.handle(record("progress", 1001.5))  # other records are ignored
    h.handle(record("job_finished", 1012.25, job_id=3))
    h.handle(record("job_error", 1020.0, jobid=4, rule_name="train_model"))
    events = lineage.validate_events(path, EVENTS_SCHEMA)
    assert [(e["rule"], e["status"]) for e in events] == [
        ("calibrate", "started"),
        ("train_model", "started"),
        ("calibrate", "success"),
        ("train_model", "error"),
    ]
    done = events[2]
    assert (
        done["planet"] == 123
        and done["wildcards"] == {"planet": "123"}
        and done["duration_s"] == 12.25
    )
    assert (
        done["host"] == socket.gethostname()
        and done["slurm_job_id"] == "4242"
        and done["threads"] == 1
    )
    assert events[3]["planet"] is None and events[3]["duration_s"] == 19.0
    assert events[0]["end"] is None and events[0]["duration_s"] is None


def test_event_log_writes_nothing_when_told_not_to(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    h = EventLog(path, should_record=lambda: False)  # e.g. a dry run
    h.handle(record("job_info", 1.0, jobid=1, rule_name="a", wildcards={}, threads=1))
    assert not path.exists()


def test_event_log_takes_the_slurm_job_id_the_executor_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)  # the submitting process: no allocation
    path = tmp_path / "events.jsonl"
    h = EventLog(path)
    h.handle(record("job_info", 1.0, jobid=7, rule_name="fit_transit", wildcards={}, threads=1))
    submitted = logging.LogRecord(
        "snakemake",
        logging.INFO,
        __file__,
        0,
        "Job %d has been submitted with SLURM jobid %s (log: x.log).",
        (7, "5150"),
        None,
    )
    h.handle(submitted)
    h.handle(logging.LogRecord("snakemake", logging.INFO, __file__, 0, "%d%d", ("x",), None))
    h.handle(record("job_finished", 3.0, job_id=7))
    events = lineage.validate_events(path, EVENTS_SCHEMA)
    assert [e["slurm_job_id"] for e in events] == [None, "5150"]


def test_attach_event_log_adds_one_handler_per_path(tmp_path: Path) -> None:
    logger = logging.getLogger("test_attach_event_log")
    logger.setLevel(logging.INFO)
    first = lineage.attach_event_log(tmp_path / "a.jsonl", logger)
    try:
        assert lineage.attach_event_log(tmp_path / "a.jsonl", logger) is first
        logger.info("job", extra={"event": Event("job_info"), "rule_name": "r", "jobid": 1})
        assert [e["rule"] for e in lineage.read_events(tmp_path / "a.jsonl")] == ["r"]
    finally:
        logger.removeHandler(first)


def test_events_schema_rejects_inconsistent_events(tmp_path: Path) -> None:
    good = {
        "rule": "score",
        "jobid": 1,
        "planet": None,
        "wildcards": {"method": "model"},
        "status": "success",
        "start": "2026-01-01T00:00:00.000+00:00",
        "end": "2026-01-01T00:00:01.000+00:00",
        "duration_s": 1.0,
        "host": "h",
        "pid": 10,
        "slurm_job_id": None,
        "threads": 1,
    }
    lineage.validate(good, EVENTS_SCHEMA)
    for bad in (
        {**good, "status": "done"},
        {**good, "end": None},
        {**good, "status": "started"},
        {**good, "duration_s": -1},
        {k: v for k, v in good.items() if k != "host"},
    ):
        with pytest.raises(LineageError):
            lineage.validate(bad, EVENTS_SCHEMA)
    (tmp_path / "e.jsonl").write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(LineageError, match="e.jsonl:2: not JSON"):
        lineage.read_events(tmp_path / "e.jsonl")


def _append(args: tuple[str, int]) -> None:
    path, worker = args
    for i in range(200):
        lineage.write_event(path, {"worker": worker, "i": i, "pad": "x" * 500})


def test_concurrent_appends_keep_lines_whole(tmp_path: Path) -> None:
    path = str(tmp_path / "events.jsonl")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_append, [(path, w) for w in range(4)])
    events = lineage.read_events(path)
    assert len(events) == 800
    assert sorted((e["worker"], e["i"]) for e in events) == [
        (w, i) for w in range(4) for i in range(200)
    ]


# --------------------------------------------------------------------------- the workflow's lineage
@pytest.mark.slow
def test_manifest_of_the_run(small_run: Path) -> None:
    m = json.loads((small_run / "results" / "manifest.json").read_text())
    lineage.validate(m, MANIFEST_SCHEMA)
    small = yaml.safe_load((REPO / "tests" / "data" / "config_small.yaml").read_text())
    assert m["config"]["simulation"]["n_train"] == small["simulation"]["n_train"]
    assert m["config"]["submission"] == {"split": "test", "method": "model"}  # defaults filled in
    assert m["config_sha256"] == lineage.config_sha256(m["config"])
    assert m["git"] == lineage.git_info(REPO)
    paths = {a["path"] for a in m["artifacts"]}
    for must in (
        "results/submission.csv",
        "results/scores/table.csv",
        "results/diagnostics/runtime.png",
        "results/predictions/model/test.csv",
    ):
        assert must in paths
    assert not any(p.startswith("results/manifest") for p in paths)
    for a in m["artifacts"]:
        assert lineage.sha256_file(small_run / a["path"]) == a["sha256"], a["path"]


@pytest.mark.slow
def test_events_of_the_run(small_run: Path, snakemake_small) -> None:
    path = small_run / "results" / "logs" / "events.jsonl"
    events = lineage.validate_events(path, EVENTS_SCHEMA)
    started = [e for e in events if e["status"] == "started"]
    ended = [e for e in events if e["status"] == "success"]
    assert not [e for e in events if e["status"] == "error"]
    assert sorted((e["rule"], e["jobid"]) for e in started) == sorted(
        (e["rule"], e["jobid"]) for e in ended
    )
    root = small_run / "results" / "simulated"
    # the split folders are directory() outputs: Snakemake keeps its .snakemake_timestamp there
    planets = {p for s in ("train", "test") for p in io.list_planets(root, s)}
    assert {e["planet"] for e in ended if e["rule"] == "calibrate"} == planets
    assert {e["rule"] for e in ended} >= {
        "simulate_dataset",
        "calibrate",
        "fit_transit",
        "train_model",
        "predict_model",
        "submit",
        "kaggle_bundle",
        "diagnose_planet",
    }
    for e in ended:
        assert e["host"] and e["duration_s"] >= 0 and e["end"] >= e["start"]
    manifest_log = (small_run / "results" / "logs" / "manifest" / "manifest.log").read_text()
    assert "valid events" in manifest_log
    before = path.read_bytes()
    snakemake_small(small_run, "-n", "--forceall")  # a dry run records nothing
    assert path.read_bytes() == before


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("SPECTRAMIND_SLURM") != "1",
    reason="needs the SLURM cluster of .ci/slurm-up.sh (SPECTRAMIND_SLURM=1)",
)
def test_events_under_slurm_carry_the_slurm_job_id(tmp_path: Path, snakemake_small) -> None:
    """One started/success pair per job, from the submitting process (the `onstart:` hook
    runs there only); the end event carries the SLURM job id the executor reported."""
    link_workflow(tmp_path, "profiles")
    snakemake_small(tmp_path, "--profile", "profiles/slurm", "results/simulated/train.csv")
    events = lineage.validate_events(tmp_path / "results" / "logs" / "events.jsonl", EVENTS_SCHEMA)
    assert [(e["rule"], e["status"]) for e in events] == [
        ("simulate_dataset", "started"),
        ("simulate_dataset", "success"),
    ]
    slurm_id = events[1]["slurm_job_id"]
    assert slurm_id.isdigit() and events[0]["slurm_job_id"] in (None, slurm_id)
    log = next((tmp_path / ".snakemake" / "slurm_logs" / "rule_simulate_dataset").glob("*.log"))
    assert log.stem == slurm_id  # the SLURM log is named after the job id
