"""Safety: nothing read from data or config is ever executed.

* checkpoints load with ``torch.load(..., weights_only=True)``: a pickled payload is refused
  and never runs;
* the planet wildcard is digits only: a target path cannot smuggle text into a job;
* no shell command is built from data: rules run scripts, the package never calls a shell;
* YAML is read with ``yaml.safe_load``, and nothing is unpickled;
* the HTML report contains no script from data: a data root crafted as reStructuredText
  markup shows as plain text, and table cells are escaped.

The static checks walk the syntax trees of the package, the rule scripts and the benchmarks,
and the text of the workflow's rule files; each has a test that it can fail.
"""

from __future__ import annotations

import ast
import os
import pathlib
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import link_workflow, run_snakemake
from spectramind.diagnostics import score_table_html
from spectramind.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from spectramind.model.models.spectra_model import SpectraModel
from tiny import TINY

REPO = Path(__file__).resolve().parents[1]
PYTHON_FILES = sorted(
    [
        *(REPO / "src" / "spectramind").rglob("*.py"),
        *(REPO / "workflow" / "scripts").glob("*.py"),
        *(REPO / "benchmarks").glob("*.py"),
    ]
)

RULE_FILES = sorted([REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")])


# --------------------------------------------------------------------------- static checks
def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(tree: ast.AST) -> list[str]:
    """Calls that execute text or unpickle data: shells, eval, unsafe YAML, pickle, torch.load
    without ``weights_only=True``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            found += [
                f"line {node.lineno}: import {m}"
                for m in mods
                if m in ("pickle", "dill", "shelve", "marshal")
            ]
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        where = f"line {node.lineno}: {name}"
        if name in (
            "eval",
            "exec",
            "os.system",
            "os.popen",
            "subprocess.getoutput",
            "subprocess.getstatusoutput",
        ) or name.startswith(("os.exec", "os.spawn")):
            found.append(f"{where} runs text")
        if name.startswith("subprocess.") and _is_true(_keyword(node, "shell")):
            found.append(f"{where}(shell=True)")
        if name in (
            "yaml.load",
            "yaml.load_all",
            "yaml.unsafe_load",
            "yaml.full_load",
            "yaml.unsafe_load_all",
        ):
            loader = _keyword(node, "Loader")
            if not (
                loader is not None
                and ast.unparse(loader) in ("yaml.SafeLoader", "yaml.CSafeLoader")
            ):
                found.append(f"{where} (use yaml.safe_load)")
        if name.endswith(("pd.read_pickle", "joblib.load")) or name in (
            "pickle.load",
            "pickle.loads",
        ):
            found.append(f"{where} unpickles")
        if name.endswith("np.load") and _is_true(_keyword(node, "allow_pickle")):
            found.append(f"{where}(allow_pickle=True)")
        if name == "torch.load" and not _is_true(_keyword(node, "weights_only")):
            found.append(f"{where} without weights_only=True")
    return found


def test_no_shell_eval_unsafe_yaml_or_pickle_in_python() -> None:
    assert len(PYTHON_FILES) > 20
    found = {
        str(f.relative_to(REPO)): bad
        for f in PYTHON_FILES
        if (bad := unsafe_calls(ast.parse(f.read_text())))
    }
    assert not found, found


def test_torch_load_is_called_with_weights_only() -> None:
    calls = [
        (f, n)
        for f in PYTHON_FILES
        for n in ast.walk(ast.parse(f.read_text()))
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "torch.load"
    ]
    assert calls, "the checkpoint loader should call torch.load"
    for f, call in calls:
        assert _is_true(_keyword(call, "weights_only")), f"{f}:{call.lineno}"


def test_yaml_is_read_with_safe_load() -> None:
    calls = [
        ast.unparse(n.func)
        for f in PYTHON_FILES
        for n in ast.walk(ast.parse(f.read_text()))
        if isinstance(n, ast.Call) and ast.unparse(n.func).startswith("yaml.")
    ]
    assert "yaml.safe_load" in calls
    assert {c for c in calls if "load" in c} == {"yaml.safe_load"}


@pytest.mark.parametrize(
    "code",
    [
        "import os\nos.system('ls ' + path)",
        "import subprocess\nsubprocess.run(cmd, shell=True)",
        "import yaml\nyaml.load(text, Loader=yaml.Loader)",
        "import yaml\nyaml.full_load(text)",
        "import torch\ntorch.load(path)",
        "import torch\ntorch.load(path, weights_only=False)",
        "import pickle\npickle.loads(data)",
        "import numpy as np\nnp.load(p, allow_pickle=True)",
        "eval(text)",
    ],
)
def test_unsafe_call_detector_can_fail(code: str) -> None:
    assert unsafe_calls(ast.parse(code))


def test_safe_calls_pass_the_detector() -> None:
    code = (
        "import subprocess, torch, yaml\nsubprocess.run(['git', 'rev-parse', 'HEAD'], check=False)\n"
        "torch.load(p, map_location='cpu', weights_only=True)\nyaml.safe_load(text)\n"
    )
    assert unsafe_calls(ast.parse(code)) == []


def rule_directives(text: str) -> list[tuple[str, str]]:
    """(rule name, directive) for every ``shell:`` or ``run:`` directive of a rule file."""
    out, rule = [], None
    for line in text.splitlines():
        if m := re.match(r"(?:rule|checkpoint)\s+(\w+)|use rule \w+ as (\w+)", line):
            rule = m.group(1) or m.group(2)
        elif m := re.match(r"\s+(shell|run):", line):
            out.append((str(rule), m.group(1)))
    return out


def test_rules_run_scripts_not_shell_commands() -> None:
    """A ``shell:`` command formats paths from the data root (and a ``run:`` block is code in
    the Snakefile): every rule runs a script instead, which gets its inputs as Python values."""
    found = {f.name: d for f in RULE_FILES if (d := rule_directives(f.read_text()))}
    assert not found, found
    scripts = sum(len(re.findall(r"^\s+script:", f.read_text(), flags=re.M)) for f in RULE_FILES)
    assert scripts >= 15


def test_rule_directive_detector_can_fail() -> None:
    assert rule_directives('rule x:\n    input: "a"\n    shell:\n        "cat {input}"\n') == [
        ("x", "shell")
    ]


def planet_constraints(text: str) -> list[str]:
    """Every constraint given to the planet wildcard: in ``wildcard_constraints:`` blocks
    (``planet=r"..."``) and inline in paths (``{planet,...}``)."""
    return [
        m.group(1) for m in re.finditer(r'^\s+planet\s*=\s*r?"([^"]*)"', text, flags=re.M)
    ] + re.findall(r"\{planet\s*,\s*([^}]*)\}", text)


def test_planet_wildcard_is_digits_only() -> None:
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    block = re.search(r"^wildcard_constraints:\n((?:[ \t]+.*\n)+)", common, flags=re.M)
    assert block, "common.smk declares no global wildcard_constraints"
    assert planet_constraints(block.group(1)) == [r"\d+"]
    for f in RULE_FILES:  # and no rule loosens it
        assert set(planet_constraints(f.read_text())) <= {r"\d+"}, f.name
    assert "{planet}" in (REPO / "workflow" / "rules" / "calibrate.smk").read_text()


def test_planet_constraint_detector_can_fail() -> None:
    assert planet_constraints('    output:\n        "results/{planet,.+}.nc",\n') == [".+"]
    assert planet_constraints('wildcard_constraints:\n    planet=r"[^/]+",\n') == ["[^/]+"]


# --------------------------------------------------------------------------- behaviour
class _Payload:
    """Unpickling this calls ``Path.touch(marker)``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_checkpoint_with_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    pt, js = tmp_path / "model.pt", tmp_path / "model_config.json"
    save_checkpoint(SpectraModel(config=TINY), pt, js)
    marker = tmp_path / "PWNED"
    state = torch.load(pt, weights_only=True)
    torch.save({**state, "extra": _Payload(marker)}, pt)
    with pytest.raises(CheckpointError, match="not a loadable state_dict"):
        load_checkpoint(pt, js)
    assert not marker.exists()


def _workdir(wd: Path) -> Path:
    return link_workflow(wd)


@pytest.mark.slow
def test_target_paths_cannot_smuggle_text_into_a_job(tmp_path: Path) -> None:
    wd = _workdir(tmp_path / "wd")
    evil = [
        "results/cubes/abc.nc",
        "results/cubes/1;touch PWNED.nc",
        "results/cubes/1 $(touch PWNED).nc",
        "results/physics/../../PWNED.nc",
    ]
    for target in evil:
        res = run_snakemake(wd, target, "-n", configfile=None, check=False, timeout=300)
        assert res.returncode != 0
        assert f"No rule to produce {os.path.normpath(target)}" in res.stdout + res.stderr, (
            res.stdout[-2000:]
        )
    assert not list(tmp_path.rglob("PWNED*"))


@pytest.fixture(scope="module")
def tiny_root(tiny_dataset) -> Path:
    return tiny_dataset(n_train=2, n_test=1, seed=1, second_visit_fraction=0.0)


# A data root whose name is reStructuredText: a javascript: link and a raw-HTML directive
# (no "<": Snakemake 9 reads <...> in a path as a path variable and refuses it)
EVIL_ROOT = "x javascript:alert(1)\n\n.. raw:: html\n\n   &#60;b&#62;RAW&#60;/b&#62;\n\ny"
EVIL_CELL = "<script>alert('cell')</script>"


@pytest.mark.slow
def test_report_contains_no_script_from_data(tiny_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "roots" / EVIL_ROOT
    root.parent.mkdir(parents=True)
    os.symlink(tiny_root, root)
    wd = _workdir(tmp_path / "wd")
    (wd / "evil.yaml").write_text(yaml.safe_dump({"data": {"root": str(root)}}))
    # the one report item of this target: a score table whose cells carry markup (as if a
    # method or split name came from data)
    table = wd / "results" / "scores" / "table.csv"
    table.parent.mkdir(parents=True)
    pd.DataFrame({"method": [EVIL_CELL], "split": ["test"], "score": [0.5]}).to_csv(
        table, index=False
    )
    res = run_snakemake(
        wd,
        "results/scores/table.csv",
        "--report",
        "report.html",
        configfile=wd / "evil.yaml",
        check=False,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    page = (wd / "report.html").read_text()
    desc = re.search(r'var workflow_desc = "(.*?)";\n', page, flags=re.S)
    assert desc, "no workflow description in the report"
    text = desc.group(1)
    assert "javascript:alert(1)" in text  # the data root is shown ...
    assert "javascript:" not in re.sub(
        r">[^<]*<", "><", text
    )  # ... as text only, never inside a tag
    assert "&#60;b&#62;RAW" not in text  # the raw directive did not pass its HTML through
    assert not re.search(r"href=\\?[\"']\s*javascript:", page, flags=re.I)
    assert EVIL_CELL not in page


def test_score_table_html_escapes_cells() -> None:
    table = pd.DataFrame(
        {"method": [EVIL_CELL], "split": ["<img src=x onerror=alert(2)>"], "score": [0.5]}
    )
    page = score_table_html(table, title="<script>alert(3)</script>")
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;cell&#x27;)&lt;/script&gt;" in page
    assert "<img" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
