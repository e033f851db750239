"""The conda envs (envs/*.yaml) agree with pyproject.toml and cover the rules that use them.

Conda channels cannot be reached in CI, so the envs are never built here: these tests check
what can be checked without building them.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "envs"
RULES_DIR = REPO / "workflow" / "rules"  # `conda:` and `script:` paths are relative to it
SRC = REPO / "src"
# conda-forge name -> PyPI name, where they differ
CONDA_TO_PYPI = {"pytorch": "torch"}
# import name -> PyPI name, where they differ
IMPORT_TO_PYPI = {"yaml": "pyyaml", "netCDF4": "netcdf4", "batman": "batman-package"}
# Needed at run time without an import: xarray writes the products with engine="h5netcdf".
RUNTIME_EXTRAS = {"xarray": {"h5netcdf", "h5py"}}
# Conda packages every env has that are not project dependencies.
TOOLING = {"python", "pip"}

ENV_FILES = sorted(ENVS.glob("*.yaml"))


def pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def project_pins() -> dict[str, SpecifierSet]:
    """{canonical name: specifier} of pyproject's [project] dependencies."""
    reqs = (Requirement(r) for r in pyproject()["project"]["dependencies"])
    return {canonicalize_name(r.name): r.specifier for r in reqs}


def conda_deps(env_file: Path) -> dict[str, str]:
    """{conda name: version spec} of an env file's conda dependencies (no pip section)."""
    deps = yaml.safe_load(env_file.read_text())["dependencies"]
    out = {}
    for dep in deps:
        if isinstance(dep, str):
            name, _, spec = dep.partition(" ")
            out[name] = spec.replace(" ", "")
    return out


def pypi_name(conda_name: str) -> str:
    return canonicalize_name(CONDA_TO_PYPI.get(conda_name, conda_name))


OPTIONAL_IMPORT_GUARDS = {"ImportError", "ModuleNotFoundError", "Exception"}


def guarded_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside `try:` blocks that catch ImportError (optional dependencies)."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for handler in node.handlers:
            types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught |= {t.id if isinstance(t, ast.Name) else "Exception" for t in types if t}
            if handler.type is None:
                caught.add("Exception")
        if caught & OPTIONAL_IMPORT_GUARDS:
            guarded |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return guarded


def third_party_imports(script: Path) -> set[str]:
    """Top-level non-stdlib modules a script imports, following spectramind's own modules
    (imports guarded by ``except ImportError`` are optional and left out)."""
    seen: set[Path] = set()
    found: set[str] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text())
        optional = guarded_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level:
                pkg = path.parent
                for _ in range(node.level - 1):
                    pkg = pkg.parent
                base = ".".join(pkg.relative_to(SRC).parts)
                names = [f"{base}.{node.module}" if node.module else base]
                names += [f"{names[0]}.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "spectramind":
                    parts = name.split(".")
                    for i in range(1, len(parts) + 1):
                        mod = SRC.joinpath(*parts[:i])
                        for candidate in (mod / "__init__.py", mod.with_suffix(".py")):
                            if candidate.is_file():
                                todo.append(candidate)
                elif top not in sys.stdlib_module_names and top != "snakemake":
                    found.add(top)
    return found


def test_there_is_one_env_per_rule_group() -> None:
    names = {p.stem for p in ENV_FILES}
    assert {"simulate", "calibrate", "physics", "budget"} <= names


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(env_file: Path) -> None:
    pins = project_pins()
    deps = conda_deps(env_file)
    for name, spec in deps.items():
        if name in TOOLING:
            continue
        pypi = pypi_name(name)
        assert pypi in pins, f"{env_file.name}: {name} is not a dependency in pyproject.toml"
        assert SpecifierSet(spec) == pins[pypi], (
            f"{env_file.name}: {name} {spec!r} but pyproject.toml has {pypi}{pins[pypi]}"
        )
    assert "conda-forge" in yaml.safe_load(env_file.read_text())["channels"]


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_python_satisfies_requires_python(env_file: Path) -> None:
    spec = conda_deps(env_file)["python"]
    assert re.fullmatch(r"=\d+\.\d+", spec), f"python pinned to a minor version, got {spec!r}"
    assert Version(spec[1:]) in SpecifierSet(pyproject()["project"]["requires-python"])


def test_full_env_lists_every_project_dependency() -> None:
    deps = {pypi_name(n) for n in conda_deps(ENVS / "spectramind.yaml")} - TOOLING
    assert deps == set(project_pins())


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_installs_the_project(env_file: Path) -> None:
    """A post-deploy script installs this repository (the env file itself cannot: Snakemake
    copies it to .snakemake/conda/, so a relative pip path would point elsewhere)."""
    sections = [
        d for d in yaml.safe_load(env_file.read_text())["dependencies"] if isinstance(d, dict)
    ]
    assert not any("pip" in d for d in sections), "no pip section: the post-deploy script installs"
    script = env_file.with_suffix(".post-deploy.sh")
    assert script.is_file(), f"{script.name} missing"
    # one script for every env: each <env>.post-deploy.sh is a link to envs/post-deploy.sh
    assert script.is_symlink() and script.resolve() == ENVS / "post-deploy.sh", script.name
    text = script.read_text()
    assert "pip install --no-deps -e" in text and "pyproject.toml" in text


def test_every_rule_has_an_existing_env(job_rules: list) -> None:
    for rule in job_rules:
        assert rule.conda_env, f"rule {rule.name} has no conda: directive"
        assert (RULES_DIR / rule.conda_env).resolve().parent == ENVS, rule.name
        assert (RULES_DIR / rule.conda_env).is_file(), f"rule {rule.name}: {rule.conda_env}"


def test_each_env_covers_what_its_rules_import(job_rules: list) -> None:
    for rule in job_rules:
        if not rule.script:
            continue
        env_file = (RULES_DIR / rule.conda_env).resolve()
        have = {pypi_name(n) for n in conda_deps(env_file)}
        need = {
            canonicalize_name(IMPORT_TO_PYPI.get(m, m))
            for m in third_party_imports((RULES_DIR / rule.script).resolve())
        }
        for module, extras in RUNTIME_EXTRAS.items():
            if module in need:
                need |= extras
        assert need <= have, f"rule {rule.name}: {env_file.name} lacks {sorted(need - have)}"


def test_import_scan_follows_the_package() -> None:
    """The scan above must see torch behind fit_transit (spectramind.physics imports it)."""
    assert {"torch", "xarray", "scipy"} <= third_party_imports(
        REPO / "workflow" / "scripts" / "fit_transit.py"
    )
    assert "torch" not in third_party_imports(REPO / "workflow" / "scripts" / "calibrate.py")


def test_import_scan_skips_optional_imports(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "import numpy\ntry:\n    import mamba_ssm\nexcept ImportError:\n    mamba_ssm = None\n"
    )
    assert third_party_imports(script) == {"numpy"}
