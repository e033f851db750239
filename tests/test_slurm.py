"""The small workflow through `--profile profiles/slurm` on a real (one-node) SLURM cluster.

Runs only when SPECTRAMIND_SLURM=1 (`.ci/run` sets it after `.ci/slurm-up.sh` has started
the cluster). Evidence that every job ran under SLURM, all of which must agree:
- the executor's "submitted with SLURM jobid N" line for every job it ran, and no job run
  outside SLURM (every finished job was submitted);
- squeue, polled during the run, saw each of those SLURM jobs under the run's job name and
  last saw it COMPLETED;
- each job's SLURM output file `<jobid>.log` exists (SLURM writes it) and shows the job's
  Snakemake running the rule inside the allocation (`--executor slurm-jobstep`).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import SMALL_CONFIG, link_workflow, snakemake_command

REPO = Path(__file__).resolve().parents[1]
# Bound on the whole run (~22 jobs of 15-60 s on 2 cores, 4-8 min): SIGINT at the bound
# makes the executor cancel its SLURM jobs; SIGKILL KILL_AFTER_S later if it hangs.
TIMEOUT_S = 1200
KILL_AFTER_S = 60
POLL_S = 2.0  # squeue polling interval; jobs stay visible MinJobAge (300 s) after they end
RULES = {
    "simulate_dataset",
    "calibrate",
    "fit_transit",
    "recalibrate_physics",
    "predict_physics",
    "predict_constant",
    "score",
    "score_table",
}

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("SPECTRAMIND_SLURM") != "1",
        reason="needs a SLURM cluster: SPECTRAMIND_SLURM=1 (see .ci/slurm-up.sh)",
    ),
]

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)")
FINISHED = re.compile(r"Finished jobid: (\d+) \(Rule: (\w+)\)")
RUN_ID = re.compile(r"SLURM run ID: (\S+)")


class SqueuePoller(threading.Thread):
    """Polls `squeue --states=all` until stopped: {job id: (name, state, ..., limit)}."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: dict[str, tuple[str, ...]] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.poll()
            self._done.wait(POLL_S)
        self.poll()

    def poll(self) -> None:
        res = subprocess.run(
            ["squeue", "--states=all", "--noheader", "--format=%i|%j|%T|%M|%N|%C|%m|%l"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        for line in res.stdout.splitlines():
            jobid, *fields = line.strip().split("|")
            self.seen[jobid] = tuple(fields)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=60)


def profile_set_resources(**overrides: dict) -> list[str]:
    """The SLURM profile's `set-resources` as `--set-resources` items, with overrides.

    A `--set-resources` on the command line replaces the profile's whole list, so the test
    repeats the profile's entries and changes only what the CI cluster cannot grant.
    """
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    per_rule = {rule: dict(values) for rule, values in profile.get("set-resources", {}).items()}
    for rule, values in overrides.items():
        per_rule.setdefault(rule, {}).update(values)
    return [
        f"{rule}:{key}={value}"
        for rule, values in per_rule.items()
        for key, value in values.items()
    ]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    link_workflow(tmp_path, "profiles")
    cfg = yaml.safe_load(SMALL_CONFIG.read_text())
    cfg["data"]["splits"] = ["train"]
    cfg["simulation"].update(n_train=2, n_test=0)
    cfg["model"] = {"training": {"max_epochs": 2}}
    (tmp_path / "slurm.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def test_small_workflow_runs_under_slurm(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cmd = [
        "timeout",
        "-s",
        "INT",
        "-k",
        str(KILL_AFTER_S),
        str(TIMEOUT_S),
        *snakemake_command(
            workdir,
            "--profile",
            str(REPO / "profiles" / "slurm"),
            # the CI cluster has no accounts and no GPU: train on CPU
            "--slurm-no-account",
            "--set-resources",
            *profile_set_resources(train_model={"gpu": 0}),
            configfile=workdir / "slurm.yaml",
        ),
    ]
    poller = SqueuePoller()
    poller.start()
    t0 = time.monotonic()
    try:
        res = subprocess.run(
            cmd, capture_output=True, text=True, timeout=TIMEOUT_S + 2 * KILL_AFTER_S
        )
    finally:
        poller.stop()
    wall_s = time.monotonic() - t0
    (workdir / "snakemake.log").write_text(res.stderr)
    assert res.returncode == 0, f"rc {res.returncode} after {wall_s:.0f} s:\n{res.stderr[-6000:]}"

    run_id = RUN_ID.search(res.stderr).group(1)
    submitted = {job: (slurm_id, Path(log)) for job, slurm_id, log in SUBMITTED.findall(res.stderr)}
    finished = dict(FINISHED.findall(res.stderr))
    jobs_run = {job for job, rule in finished.items() if rule != "all"}  # `all` runs nothing
    assert jobs_run and jobs_run == set(submitted), "a job ran outside SLURM"
    assert RULES <= set(finished.values())

    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    requests = {rule: r for rule, r in profile["set-resources"].items() if "cpus_per_task" in r}
    assert {"calibrate", "fit_transit"} <= set(requests)
    lines = []
    for job in sorted(submitted, key=lambda j: int(submitted[j][0])):
        slurm_id, log = submitted[job]
        rule = finished[job]
        assert slurm_id in poller.seen, f"squeue never saw SLURM job {slurm_id} ({rule})"
        name, state, elapsed, node, cpus, mem, limit = poller.seen[slurm_id]
        assert name == run_id and state == "COMPLETED", (slurm_id, rule, name, state)
        assert log.name == f"{slurm_id}.log" and log.is_file()
        text = log.read_text()
        assert "--executor slurm-jobstep" in text and f"(Rule: {rule})" in text, log
        if rule in requests:  # the profile's per-rule request reached sbatch
            want = requests[rule]
            assert (mem, cpus, limit) == (
                f"{want['mem_mb']}M",
                str(want["cpus_per_task"]),
                f"{want['runtime']}:00",
            ), (rule, mem, cpus, limit)
        lines.append(
            f"  SLURM job {slurm_id:>5}  {state:<9} {elapsed:>6}  {node}  cpus={cpus} "
            f"mem={mem:<6} limit={limit:<8} "
            f"{log.parent.relative_to(workdir / '.snakemake' / 'slurm_logs')}"
        )
    assert (workdir / "results" / "scores" / "table.csv").is_file()

    with capsys.disabled():
        print(
            f"\n[slurm] run {run_id}: {len(submitted)} jobs, all COMPLETED under SLURM, "
            f"wall time {wall_s:.0f} s"
        )
        print("\n".join(lines))
