"""The Kaggle offline bundle: everything a no-internet notebook needs to write submission.csv.

Layout of ``results/kaggle/`` (:func:`build_bundle`)::

    kaggle-boot.sh                         bin/kaggle-boot.sh: install offline, run, write submission.csv
    spectramind-<version>-py3-none-any.whl this project (pip wheel --no-deps)
    checkpoint/model.pt, model_config.json the trained model (when the submitted method is "model")
    config.yaml                            the run's full config with the bundle's overrides
    workflow/                              Snakefile, workflow/, schemas/, config/, envs/ (the pipeline)
    wheels/*.whl, wheels/requirements.txt  every dependency the Kaggle image lacks (name==version)
    fallback.json                          the fence's fallback: the train constant (mu, sigma)
    population.json                        the physics fit's prior, learned on train
    recalibration.json                     the physics mu/sigma recalibration, learned on train
    bundle.json                            contents (sha256 of every file), method, split, git commit,
                                           the dependency wheels and the image they were resolved against

The dependencies (:func:`bundle_dependencies`): the closure of the project wheel's requirements
minus the closure of the image's package list (``kaggle.image_packages``), both followed through
the metadata of the environment that builds the bundle, at that environment's versions, for
every Python of ``kaggle.python`` (Linux x86_64 CPython). Their wheels (pure Python, or binary
for each of those Pythons on manylinux x86_64) come from the wheel cache ``kaggle.wheelhouse``
or, the first time, from the package index (:func:`download_wheels`): the only network access,
at build time. The project wheel of the bundle requires ``torch>=2.10`` (the image's torch;
the code uses no newer torch API) instead of this project's ``torch==2.13.0``, and plain
``snakemake`` (the bundle writes no report).

The boot script installs from the bundle only (``pip --no-index --no-deps --target``: into a
folder of its own on PYTHONPATH, so no package of the image is upgraded or replaced, and a
bundled dependency the image already has is skipped), checks that every requirement is met by
the installed versions (:mod:`spectramind.kaggle_run`), and runs the workflow on the test split
of the challenge-layout input folder under the runtime fence: nothing is simulated.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from email.parser import Parser
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from spectramind import __version__
from spectramind.atomic import atomic_write_text
from spectramind.kaggle_run import (
    FALLBACK_FILE,
    POPULATION_FILE,
    RECALIBRATION_FILE,
    Dist,
    installed_distributions,
    requirement_closure,
)
from spectramind.lineage import git_info, jsonable, sha256_file
from spectramind.predict import constant_baseline

__all__ = [
    "BUNDLE_FORMAT",
    "WORKFLOW_ITEMS",
    "BundleError",
    "build_bundle",
    "build_wheel",
    "bundle_config",
    "bundle_dependencies",
    "download_wheels",
    "marker_environment",
    "read_image_packages",
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


#: How the bundle's project wheel differs from this project's: the image's torch (the code
#: uses no torch API newer than 2.10), and snakemake without the reports extra (no report is
#: written on Kaggle). pattern of a pyproject dependency string -> its replacement.
BUNDLE_REQUIREMENTS = {
    r"torch==[^\"]+": "torch>=2.10",
    r"snakemake\[reports\]": "snakemake",
    # the simulator's transit engine: the bundle runs on real data only and never imports
    # spectramind.sim, so the requirement gets a marker no Python 3 satisfies (not bundled)
    r"batman-package[^\"]*": "batman-package; python_version < '3'",
}
#: The platform of the Kaggle image (glibc 2.35) as pip download tags.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")


def bundle_pyproject(text: str, changes: Mapping[str, str] = BUNDLE_REQUIREMENTS) -> str:
    """pyproject.toml as the bundle's wheel is built from it (``changes`` applied to the
    quoted dependency strings); BundleError when a pattern does not match exactly once."""
    for pattern, repl in changes.items():
        text, n = re.subn(r'(?<=")' + pattern, repl, text)
        if n != 1:
            raise BundleError(f"pyproject.toml: {n} dependencies match {pattern!r}, expected 1")
    return text


def build_wheel(
    project: str | Path, out_dir: str | Path, *, changes: Mapping[str, str] | None = None
) -> Path:
    """Build the project's wheel into ``out_dir`` with no network and no dependencies.

    The sources are copied to a temporary folder first, so the build leaves nothing
    (``build/``, ``*.egg-info``) in the repository; ``changes`` rewrites requirements there
    (:func:`bundle_pyproject`). Returns the wheel's path.
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
        if changes:
            pyproject = src / "pyproject.toml"
            pyproject.write_text(bundle_pyproject(pyproject.read_text(), changes))
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


def wheel_requirements(wheel: str | Path) -> list[str]:
    """The ``Requires-Dist`` strings of a wheel (its METADATA)."""
    with zipfile.ZipFile(wheel) as z:
        meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        if len(meta) != 1:
            raise BundleError(f"{wheel}: expected one .dist-info/METADATA, found {len(meta)}")
        msg = Parser().parsestr(z.read(meta[0]).decode())
    return msg.get_all("Requires-Dist") or []


def read_image_packages(path: str | Path) -> dict[str, str]:
    """{canonical name: version} of an image's ``name==version`` list (# comments and blank
    lines ignored); BundleError naming the file and line of anything else."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: the image's package list does not exist")
    out: dict[str, str] = {}
    for i, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line)
        if not m:
            raise BundleError(f"{path}:{i}: expected name==version, got {raw!r}")
        out[canonicalize_name(m.group(1))] = m.group(2)
    if not out:
        raise BundleError(f"{path}: no package listed")
    return out


def marker_environment(python: str) -> dict[str, str]:
    """PEP 508 marker values of CPython ``python`` ("3.12") on Linux x86_64 (the image)."""
    if not re.fullmatch(r"3\.\d+", python):
        raise BundleError(f"kaggle.python: {python!r} is not a CPython version such as '3.12'")
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "linux",
    }


def requirement_specifiers(
    names: Iterable[str], dists: Mapping[str, Dist], environments: Iterable[Mapping[str, str]]
) -> dict[str, str]:
    """{name: combined specifier} of what the installed distributions ``names`` require of
    each other and of anything else (markers that hold in one of ``environments``)."""
    envs = [dict(e) for e in environments]
    specs: dict[str, SpecifierSet] = {}
    for n in names:
        for r in dists[n].requires if n in dists else ():
            req = Requirement(r)
            if req.marker is None or any(req.marker.evaluate({**e, "extra": ""}) for e in envs):
                dep = canonicalize_name(req.name)
                specs[dep] = specs.get(dep, SpecifierSet()) & req.specifier
    return {n: str(s) for n, s in sorted(specs.items())}


def _bounded(spec: str) -> bool:
    """A specifier with an upper bound (``<``, ``<=``, ``==``, ``~=``, ``===``)."""
    return any(s.operator in ("<", "<=", "==", "~=", "===") for s in SpecifierSet(spec))


def bundle_dependencies(
    requirements: Iterable[str],
    image: Mapping[str, str],
    dists: Mapping[str, Dist],
    pythons: Sequence[str],
) -> dict[str, dict[str, str]]:
    """{name: {"version", "requires"}} the bundle must ship: what ``requirements`` need
    (followed through ``dists``) minus what the ``image`` packages ({name: version}) are and
    need, for every Python of ``pythons`` (see the comment on "exact" below); plus a needed package that the image has at a
    version its list does not state when a needed package caps its version (packaging < 26
    for snakemake 9): the boot installs that one only if the image's version misses the cap.
    ``requires`` is the combined specifier of every requirement on it. BundleError when a
    needed distribution is not in ``dists``, or an image version misses a requirement."""
    reqs = list(requirements)
    envs = [marker_environment(p) for p in pythons]
    try:
        need = requirement_closure(reqs, dists, envs)
    except KeyError as exc:
        raise BundleError(
            f"{exc.args[0]} in this environment: the bundle cannot pin its wheel"
        ) from None
    # What the image has besides its list is known from this environment's metadata; that is
    # sure only for listed packages this environment has at the listed version ("exact"): a
    # listed package at another version here can need what the image's version does not
    # (typer 0.29 needs pydantic, the image's typer 0.24 does not). A package needed by a
    # bundled one that only such an inexact path provides is bundled too (the boot skips it
    # where the image has it at an accepted version).
    exact = [n for n in image if n in dists and dists[n].version == image[n]]
    has = set(requirement_closure(image, dists, envs, missing_ok=True)) | set(image)
    has_exact = set(requirement_closure(exact, dists, envs, missing_ok=True)) | set(image)
    core = [n for n in need if n not in has]
    unsure = set(requirement_closure(core, dists, envs)) & (has - has_exact)
    has -= unsure
    # what the bundled packages and the project ask (the image's own packages are at other
    # versions in this environment: their requirements here say nothing of the image)
    specs = requirement_specifiers([n for n in need if n not in has], dists, envs)
    for r in reqs:
        req = Requirement(r)
        if req.marker is None or any(req.marker.evaluate({**e, "extra": ""}) for e in envs):
            root = str(canonicalize_name(req.name))
            specs[root] = str(SpecifierSet(specs.get(root, "")) & req.specifier)
    for name, version in image.items():
        spec = SpecifierSet(specs.get(name, ""))
        if name in need and not spec.contains(Version(version), prereleases=True):
            raise BundleError(
                f"the image's {name}=={version} does not meet the requirement {name}{spec}"
            )
    out: dict[str, dict[str, str]] = {}
    for dep, version in sorted(need.items()):
        if dep not in has or (dep not in image and _bounded(specs.get(dep, ""))):
            out[str(dep)] = {"version": version, "requires": specs.get(dep, "")}
    return out


def default_wheelhouse() -> Path:
    """``$XDG_CACHE_HOME/spectramind/wheels`` (default ``~/.cache/spectramind/wheels``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spectramind" / "wheels"


def _pip_download(
    reqs: Path, dest: Path, python: str, wheelhouse: Path, *, index: bool
) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--python-version",
        python,
        "--implementation",
        "cp",
        *[a for p in PLATFORMS for a in ("--platform", p)],
        "--find-links",
        str(wheelhouse),
        "--dest",
        str(dest),
        "-r",
        str(reqs),
    ]
    if not index:
        cmd.insert(4, "--no-index")
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def build_pure_wheel(
    name: str, version: str, wheelhouse: Path, *, log: Callable[[str], object] = lambda msg: None
) -> Path:
    """Build ``name==version`` from its source distribution into ``wheelhouse``; BundleError
    unless the wheel is pure Python (``py3-none-any``: it then installs on any image)."""
    with tempfile.TemporaryDirectory(prefix="spectramind-sdist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check"]
        cmd += ["--wheel-dir", tmp, f"{name}=={version}"]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if res.returncode != 0 or len(wheels) != 1:
            raise BundleError(
                f"{name}=={version}: no wheel, and building one failed:\n{res.stderr[-2000:]}"
            )
        if not wheels[0].name.endswith("-none-any.whl"):
            raise BundleError(
                f"{name}=={version}: no published wheel, and {wheels[0].name} is not pure Python"
            )
        log(f"built {wheels[0].name} from its source distribution")
        target = wheelhouse / wheels[0].name
        _copy_atomic(wheels[0], target)
    return target


def _copy_atomic(src: Path, dst: Path) -> None:
    """Copy into the shared cache under a temporary name first: a concurrent build never
    reads a half-copied wheel."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def download_wheels(
    deps: Mapping[str, str],
    pythons: Sequence[str],
    dest: str | Path,
    *,
    wheelhouse: str | Path,
    log: Callable[[str], object] = lambda msg: None,
) -> list[Path]:
    """Wheels of ``deps`` ({name: version}) for every Python of ``pythons`` (CPython, manylinux
    x86_64, or pure Python) into ``dest``; returns them, sorted. They are taken from the cache
    ``wheelhouse`` when there (no network), else downloaded from the package index into it.
    BundleError naming the packages when a wheel can be found neither way."""
    dest, wheelhouse = Path(dest), Path(wheelhouse)
    dest.mkdir(parents=True, exist_ok=True)
    wheelhouse.mkdir(parents=True, exist_ok=True)
    if not deps:
        return []
    with tempfile.TemporaryDirectory(prefix="spectramind-wheels-") as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("".join(f"{n}=={v}\n" for n, v in sorted(deps.items())))
        for python in pythons:
            got = Path(tmp) / python
            res = _pip_download(reqs, got, python, wheelhouse, index=False)
            if res.returncode != 0:
                log(f"python {python}: wheels not all in {wheelhouse}: downloading")
                res = _pip_download(reqs, got, python, wheelhouse, index=True)
            no_wheel = re.findall(r"No matching distribution found for (\S+)==", res.stderr)
            if res.returncode != 0 and no_wheel:
                # published as a source distribution only: built here, and kept if pure Python
                for name in no_wheel:
                    build_pure_wheel(name, deps[canonicalize_name(name)], wheelhouse, log=log)
                res = _pip_download(reqs, got, python, wheelhouse, index=True)
            if res.returncode != 0:
                raise BundleError(
                    f"no wheel for python {python} of some of {reqs.read_text().split()} "
                    f"(cache {wheelhouse}, then the package index):\n{res.stderr[-3000:]}"
                )
            for whl in got.glob("*.whl"):
                if not (wheelhouse / whl.name).exists():
                    _copy_atomic(whl, wheelhouse / whl.name)
                shutil.copy2(whl, dest / whl.name)
    wheels = sorted(dest.glob("*.whl"))
    names = {canonicalize_name(w.name.split("-")[0]) for w in wheels}
    missing = sorted(set(deps) - names)
    if missing:
        raise BundleError(f"pip download returned no wheel of {missing}")
    return wheels


def fallback_constant(train_labels: np.ndarray) -> dict[str, Any]:
    """The fence's fallback (fallback.json): the constant baseline fitted on the train labels."""
    mu, sigma = constant_baseline(train_labels, 1)
    return {
        "method": "constant",
        "train_planets": int(np.asarray(train_labels).shape[0]),
        "mu": mu[0].tolist(),
        "sigma": sigma[0].tolist(),
    }


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
    train_labels: np.ndarray,
    image_packages: str | Path,
    pythons: Sequence[str] = ("3.11", "3.12"),
    wheelhouse: str | Path | None = None,
    checkpoint: Mapping[str, str | Path] | None = None,
    population: str | Path | None = None,
    recalibration: str | Path | None = None,
    dists: Mapping[str, Dist] | None = None,
    log: Callable[[str], object] = lambda msg: None,
) -> dict[str, Any]:
    """Write the bundle folder ``out`` (see the module docstring); return ``bundle.json``.

    ``population``: the physics prior learned on train (``population.json``), shipped as
    ``population.json``; ``recalibration``: the physics predictions' recalibration learned on
    train, shipped as ``recalibration.json``: the bundle's test-only run has no train split
    to learn either from.

    ``train_labels``: (n_train, 283), for the fence's fallback. ``image_packages``: the
    image's ``name==version`` list; ``pythons``: the image's possible Pythons; ``wheelhouse``:
    the wheel cache (default :func:`default_wheelhouse`); ``dists``: the environment the
    dependencies are resolved in (default: this one). ``checkpoint``: ``{"model": model.pt,
    "model_config": model_config.json}``, required when ``method`` is ``"model"``.
    """
    out, project = Path(out), Path(project)
    if method == "model" and not checkpoint:
        raise BundleError("method 'model' needs the checkpoint (model.pt and model_config.json)")
    image = read_image_packages(image_packages)
    out.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(project, out, changes=BUNDLE_REQUIREMENTS)
    log(f"built {wheel.name}")
    wheelhouse = default_wheelhouse() if wheelhouse is None else Path(wheelhouse)
    deps = bundle_dependencies(
        wheel_requirements(wheel),
        image,
        installed_distributions() if dists is None else dists,
        pythons,
    )
    log(
        f"{len(deps)} dependencies the image lacks: "
        + ", ".join(f"{n}=={d['version']}" for n, d in deps.items())
    )
    wheels = _write_dependency_wheels(deps, pythons, out / "wheels", wheelhouse, log)
    (out / FALLBACK_FILE).write_text(json.dumps(fallback_constant(train_labels), indent=2) + "\n")
    _copy_checkpoint(checkpoint, out / "checkpoint")
    if population is not None:
        shutil.copy2(population, out / POPULATION_FILE)
    if recalibration is not None:
        shutil.copy2(recalibration, out / RECALIBRATION_FILE)
    _copy_workflow(project, out / "workflow")
    (out / "config.yaml").write_text(
        "# Config of the Kaggle bundle: the run's config for the test split (kaggle-boot.sh sets\n"
        "# data.root to the input folder and model.checkpoint to checkpoint/).\n"
        + yaml.safe_dump(bundle_config(config, method=method, split=split), sort_keys=False)
    )
    boot = out / "kaggle-boot.sh"
    shutil.copy2(boot_script, boot)
    boot.chmod(0o755)
    meta = _bundle_meta(
        out,
        project,
        wheel=wheel,
        method=method,
        split=split,
        shipped={
            "checkpoint": bool(checkpoint),
            "population": population is not None,
            "recalibration": recalibration is not None,
        },
        pythons=pythons,
        image=image,
        deps=deps,
        wheels=wheels,
    )
    atomic_write_text(out / "bundle.json", json.dumps(meta, indent=2) + "\n")
    _log_contents(out, meta, log)
    return meta


def _log_contents(out: Path, meta: Mapping[str, Any], log: Callable[[str], object]) -> None:
    for f in meta["files"]:
        log(f"  {f['bytes']:>10d}  {f['path']}")
    size = sum(f["bytes"] for f in meta["files"]) / 2**20
    log(f"bundle {out}: {len(meta['files'])} files, {size:.1f} MiB")


def _bundle_meta(
    out: Path,
    project: Path,
    *,
    wheel: Path,
    method: str,
    split: str,
    shipped: Mapping[str, bool],
    pythons: Sequence[str],
    image: Any,
    deps: Mapping[str, Mapping[str, str]],
    wheels: Sequence[Path],
) -> dict[str, Any]:
    """``bundle.json``: what the bundle is, what it ships, and every file's sha256."""
    return {
        "format": BUNDLE_FORMAT,
        "format_version": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "spectramind": __version__,
        "wheel": wheel.name,
        "method": method,
        "split": split,
        **shipped,
        "git": git_info(project),
        "python": list(pythons),
        "platforms": list(PLATFORMS),
        "image_packages": image,
        "requirement_changes": dict(BUNDLE_REQUIREMENTS),
        "dependencies": [{"name": n, **d} for n, d in deps.items()],
        "dependency_wheels": [w.name for w in wheels],
        "files": _file_records(out),
    }


def _write_dependency_wheels(
    deps: Mapping[str, Mapping[str, str]],
    pythons: Sequence[str],
    folder: Path,
    wheelhouse: Path,
    log: Callable[[str], object],
) -> list[Path]:
    """The wheels of ``deps`` for every Python and platform, and their requirements.txt."""
    wheels = download_wheels(
        {n: d["version"] for n, d in deps.items()},
        pythons,
        folder,
        wheelhouse=wheelhouse,
        log=log,
    )
    (folder / "requirements.txt").write_text(
        "# The bundle's dependencies that the Kaggle image lacks (kaggle-boot.sh installs them\n"
        "# with pip --no-index --no-deps from this folder, skipping any the image has).\n"
        + "".join(f"{n}=={d['version']}\n" for n, d in deps.items())
    )
    return wheels


def _copy_checkpoint(checkpoint: Mapping[str, str | Path] | None, folder: Path) -> None:
    if checkpoint:
        folder.mkdir(exist_ok=True)
        shutil.copy2(checkpoint["model"], folder / "model.pt")
        shutil.copy2(checkpoint["model_config"], folder / "model_config.json")


def _copy_workflow(project: Path, folder: Path) -> None:
    """The workflow items of ``project`` (Snakefile, rules, scripts, config, schemas...)."""
    for item in WORKFLOW_ITEMS:
        p = project / item
        if not p.exists():
            raise BundleError(f"{p}: missing (part of the workflow)")
        if p.is_dir():
            shutil.copytree(p, folder / item, ignore=_IGNORE)
        else:
            folder.mkdir(exist_ok=True)
            shutil.copy2(p, folder / item)


def _file_records(out: Path) -> list[dict[str, Any]]:
    """path (relative), sha256 and size of every file of the bundle but bundle.json."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "bundle.json")
    return [
        {"path": str(p.relative_to(out)), "sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in files
    ]
