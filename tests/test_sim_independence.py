"""The simulated world shares nothing with the pipeline, and its parse-time part is light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SIM_DIR = Path(__file__).resolve().parents[1] / "src" / "spectramind" / "sim"
FORBIDDEN = ("spectramind.physics", "spectramind.calibration", "spectramind.model")
HEAVY = ("torch", "numba", "xarray", "batman")
SIM_MODULES = sorted(SIM_DIR.glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module an AST imports (``from a import b`` gives ``a`` and ``a.b``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant):
                out.add(str(node.args[0].value))
    return out


def _is_under(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_sim_modules_found():
    assert {p.name for p in SIM_MODULES} >= {"__init__.py", "plan.py", "scene.py", "detector.py"}


@pytest.mark.parametrize("path", SIM_MODULES, ids=lambda p: p.name)
def test_sim_module_imports_nothing_of_the_pipeline(path):
    bad = sorted(m for m in imported_modules(path) if _is_under(m, FORBIDDEN))
    assert not bad, f"{path.name} imports {bad}"


def test_ast_walker_catches_a_forbidden_import(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from spectramind.physics.transit import transit_light_curve\nimport numpy\n")
    assert _is_under("spectramind.physics.transit", FORBIDDEN)
    assert "spectramind.physics.transit" in imported_modules(f)
    assert not _is_under("spectramind.physicsx", FORBIDDEN)


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(res.stdout.strip().splitlines()[-1]))


def test_importing_sim_loads_no_pipeline_and_nothing_heavy():
    loaded = _loaded_after("import spectramind.sim\nfrom spectramind.sim import plan_dataset")
    assert not sorted(m for m in loaded if _is_under(m, FORBIDDEN + HEAVY))


def test_simulating_loads_no_pipeline():
    loaded = _loaded_after(
        "from spectramind import sim\nsim.simulate_dataset\nsim.simulate_visit\nsim.light_curves"
    )
    assert "batman" in loaded  # the transit engine did load: the probe can see imports
    assert not sorted(m for m in loaded if _is_under(m, FORBIDDEN + ("torch",)))
