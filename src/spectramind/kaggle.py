"""The Kaggle offline bundle: everything a no-internet notebook needs to write submission.csv.

Layout of ``results/kaggle/`` (:func:`build_bundle`)::

    kaggle-boot.sh                         bin/kaggle-boot.sh: install offline, run, write submission.csv
    spectramind-<version>-py3-none-any.whl this project (pip wheel --no-deps)
    checkpoint/model.pt, model_config.json the trained model (when the submitted method is "model")
    config.yaml                            the run's full config with the bundle's overrides
    workflow/                              Snakefile, workflow/, schemas/, config/, envs/ (the pipeline)
    wheels/                                optional: extra dependency wheels the boot script installs
    bundle.json                            contents (sha256 of every file), method, split, git commit

The boot script installs the project wheel with ``pip --no-index --no-deps`` into a folder of
its own (PYTHONPATH), on top of an environment that already holds the dependencies (a Kaggle
image has numpy, pandas, torch, ...; missing ones can be added as wheels in ``wheels/``), and
runs the workflow on the challenge-layout input folder for the test split with the bundled
config and checkpoint: ``data.root`` = the input folder, so nothing is simulated.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from spectramind import __version__
from spectramind.atomic import atomic_write_text
from spectramind.lineage import git_info, jsonable, sha256_file

__all__ = [
    "BUNDLE_FORMAT",
    "WORKFLOW_ITEMS",
    "BundleError",
    "build_bundle",
    "build_wheel",
    "bundle_config",
]

BUNDLE_FORMAT = "spectramind-kaggle-bundle"
#: What of the repository the bundle's ``workflow/`` holds (the pipeline, not the data).
WORKFLOW_ITEMS = ("Snakefile", "workflow", "schemas", "config", "envs")
_WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "src/spectramind")
_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.nbi", "*.nbc", "*.egg-info", ".snakemake"
)


class BundleError(RuntimeError):
    """The bundle could not be built (wheel build failed, a file is missing)."""


def build_wheel(project: str | Path, out_dir: str | Path) -> Path:
    """Build the project's wheel into ``out_dir`` with no network and no dependencies.

    The sources are copied to a temporary folder first, so the build leaves nothing
    (``build/``, ``*.egg-info``) in the repository. Returns the wheel's path.
    """
    project, out_dir = Path(project), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spectramind-wheel-") as tmp:
        src = Path(tmp) / "src-tree"
        for item in _WHEEL_SOURCES:
            p = project / item
            if not p.exists():
                raise BundleError(f"{p}: missing (needed to build the wheel)")
            dest = src / item
            if p.is_dir():
                shutil.copytree(p, dest, ignore=_IGNORE)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, dest)
        built = Path(tmp) / "dist"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(built),
            str(src),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise BundleError(
                f"pip wheel failed ({res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
            )
        wheels = sorted(built.glob("spectramind-*.whl"))
        if len(wheels) != 1:
            raise BundleError(f"expected one spectramind wheel, got {[w.name for w in wheels]}")
        target = out_dir / wheels[0].name
        shutil.copy2(wheels[0], target)
    return target


def bundle_config(config: Mapping[str, Any], *, method: str, split: str = "test") -> dict[str, Any]:
    """The run's config as the bundle runs it: the same calibration, physics and model
    settings (the checkpoint was trained on products made with them), for ``split`` only,
    submitting ``method``. ``data.root`` and ``model.checkpoint`` are set by the boot script."""
    cfg = jsonable(config)
    cfg.setdefault("data", {})
    cfg["data"]["root"] = None
    cfg["data"]["splits"] = [split]
    cfg.setdefault("submission", {})
    cfg["submission"]["split"] = split
    cfg["submission"]["method"] = method
    if "model" in cfg:
        cfg["model"]["checkpoint"] = None
    return cfg


def build_bundle(
    out: str | Path,
    *,
    project: str | Path,
    boot_script: str | Path,
    config: Mapping[str, Any],
    method: str,
    split: str = "test",
    checkpoint: Mapping[str, str | Path] | None = None,
    log: Callable[[str], object] = lambda msg: None,
) -> dict[str, Any]:
    """Write the bundle folder ``out`` (see the module docstring); return ``bundle.json``.

    ``checkpoint``: ``{"model": model.pt, "model_config": model_config.json}``, required
    when ``method`` is ``"model"``.
    """
    out, project = Path(out), Path(project)
    if method == "model" and not checkpoint:
        raise BundleError("method 'model' needs the checkpoint (model.pt and model_config.json)")
    out.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(project, out)
    log(f"built {wheel.name}")
    if checkpoint:
        (out / "checkpoint").mkdir(exist_ok=True)
        shutil.copy2(checkpoint["model"], out / "checkpoint" / "model.pt")
        shutil.copy2(checkpoint["model_config"], out / "checkpoint" / "model_config.json")
    for item in WORKFLOW_ITEMS:
        p = project / item
        if not p.exists():
            raise BundleError(f"{p}: missing (part of the workflow)")
        if p.is_dir():
            shutil.copytree(p, out / "workflow" / item, ignore=_IGNORE)
        else:
            (out / "workflow").mkdir(exist_ok=True)
            shutil.copy2(p, out / "workflow" / item)
    (out / "config.yaml").write_text(
        "# Config of the Kaggle bundle: the run's config for the test split (kaggle-boot.sh sets\n"
        "# data.root to the input folder and model.checkpoint to checkpoint/).\n"
        + yaml.safe_dump(bundle_config(config, method=method, split=split), sort_keys=False)
    )
    boot = out / "kaggle-boot.sh"
    shutil.copy2(boot_script, boot)
    boot.chmod(0o755)
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "bundle.json")
    meta: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "format_version": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "spectramind": __version__,
        "wheel": wheel.name,
        "method": method,
        "split": split,
        "checkpoint": bool(checkpoint),
        "git": git_info(project),
        "files": [
            {"path": str(p.relative_to(out)), "sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in files
        ],
    }
    atomic_write_text(out / "bundle.json", json.dumps(meta, indent=2) + "\n")
    log(
        f"bundle {out}: {len(files)} files, {sum(f['bytes'] for f in meta['files']) / 2**20:.1f} MiB"
    )
    return meta
