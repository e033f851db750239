"""The documentation names only what exists: make targets, CLI commands, files; config/README.md
lists every key of the schema with its default; the workflow catalog's test config runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import run_snakemake
from spectramind import cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = [README, REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: the README stays short; the rest lives in docs/ and config/README.md
README_MAX_LINES = 200
#: top-level folders and files of the repository a path in the docs may start with
TOP = {p.name for p in REPO.iterdir()} - {".git"}
#: made by a run (git-ignored), or names of the user's own folders: not in a fresh checkout
GENERATED = ("results/", ".snakemake/", ".venv", "/kaggle/", "/data/")


def code_spans(text: str) -> list[str]:
    """Inline code and the lines of fenced code blocks."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return [line for b in blocks for line in b.splitlines()] + inline


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", text, flags=re.M))


def workflow_rules() -> set[str]:
    text = "\n".join(f.read_text() for f in (REPO / "workflow" / "rules").glob("*.smk"))
    return set(re.findall(r"^rule (\w+):", text, flags=re.M)) | {"all"}


def cli_commands() -> set[str]:
    return {c.name for c in cli.app.registered_commands if c.name} | {
        c.callback.__name__ for c in cli.app.registered_commands if c.callback and not c.name
    }


def repo_paths(span: str) -> list[str]:
    """Words of a code span that look like paths inside the repository."""
    out = []
    for word in re.split(r"[\s=,;()\[\]'\"]+", span):
        word = word.rstrip(".:").removeprefix("./")
        if "/" not in word or any(ch in word for ch in "{}<>*$~|") or word.startswith("http"):
            continue
        if word.startswith(GENERATED) or word.split("/")[0] not in TOP:
            continue
        out.append(word.split("::")[0])
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_named_commands_and_files_exist(doc: Path) -> None:
    text = doc.read_text()
    spans = code_spans(text)
    targets, commands, rules = make_targets(), cli_commands(), workflow_rules()
    missing = []
    for span in spans:
        for target in re.findall(r"(?:^|[\s;(&])make ([a-z][\w-]*)", span):
            if target not in targets:
                missing.append(f"make {target}")
        for command in re.findall(r"spectramind ([a-z][\w-]*)", span):
            if command not in commands:
                missing.append(f"spectramind {command}")
        for rule in re.findall(r"snakemake ([a-z_]+)(?![\w/.])", span):
            if rule not in rules:
                missing.append(f"snakemake {rule} (no such rule)")
        for path in repo_paths(span):
            if not (REPO / path).exists():
                missing.append(path)
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not link.startswith("http") and not (doc.parent / link).exists():
            missing.append(f"link {link}")
    assert not missing, f"{doc.name} names what does not exist: {sorted(set(missing))}"


def test_the_checks_above_can_fail() -> None:
    assert repo_paths("see docs/nothing_here.md and config/config.yaml") == [
        "docs/nothing_here.md",
        "config/config.yaml",
    ]
    assert "nothing_here" not in make_targets() and "calibrate" in cli_commands()
    assert "budget" in workflow_rules() and "nothing_here" not in workflow_rules()


def test_readme_is_short() -> None:
    n = len(README.read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; move detail to docs/"


def _leaf_keys(schema: dict, prefix: str = "") -> dict[str, dict]:
    out = {}
    for name, sub in schema.get("properties", {}).items():
        key = prefix + name
        nested = sub.get("type") == "object" and "properties" in sub and "default" in sub
        if nested and sub.get("default") == {}:
            out.update(_leaf_keys(sub, key + "."))
        else:
            out[key] = sub
    return out


def test_config_readme_lists_every_key_with_its_default() -> None:
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    keys = _leaf_keys(schema)
    rows = dict(
        re.findall(
            r"^\| `([\w.-]+)` \| `([^`]*)` \|", (REPO / "config" / "README.md").read_text(), re.M
        )
    )
    assert set(rows) == set(keys)
    for key, sub in keys.items():
        default = sub.get("default")
        want = default if isinstance(default, str) else json.dumps(default).replace('"', "")
        assert rows[key] == want, key


def test_catalog_usage_and_its_test_config_dry_run(tmp_path: Path) -> None:
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert set(catalog["usage"]) == {"mandatory-flags", "software-stack-deployment", "report"}
    work = tmp_path / "test"  # a copy of .test/: the dry run must not write into the checkout
    (work / "config").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text(
        (REPO / ".test" / "config" / "config.yaml").read_text()
    )
    res = run_snakemake(work, "-n", "--cores", "2", configfile=None, check=False, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    # the test config's 3 + 2 planets (the default config has 6 + 3): 5 cubes to make
    assert re.search(r"^calibrate\s+5$", out, flags=re.M), out
    assert "config/config.yaml" in out
