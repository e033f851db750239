"""Every layout and metric constant is defined once, in ``spectramind.constants``."""

from __future__ import annotations

import ast
from pathlib import Path

from spectramind import constants, metric

SRC = Path(__file__).resolve().parents[1] / "src" / "spectramind"


def _module_level_assignments(path: Path) -> set[str]:
    """Names bound by module-level assignments in one source file."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names


def test_each_constant_is_defined_only_in_the_constants_module() -> None:
    owners: dict[str, list[str]] = {name: [] for name in constants.__all__}
    for path in sorted(SRC.rglob("*.py")):
        for name in _module_level_assignments(path) & owners.keys():
            owners[name].append(str(path.relative_to(SRC)))
    copies = {name: paths for name, paths in owners.items() if paths != ["constants.py"]}
    assert not copies, f"constants defined outside spectramind/constants.py: {copies}"


def test_layout_constants_agree_with_each_other() -> None:
    assert constants.N_AIRS_BINS == 282
    assert constants.N_AIRS_BINS + 1 == constants.N_BINS
    # detector column 320 is wl_2 and column 39 is wl_283 (DESIGN: target wl_(2 + 320 - c))
    assert 2 + 320 - (constants.AIRS_STOP_COLUMN - 1) == 2
    assert 2 + 320 - constants.AIRS_FIRST_COLUMN == constants.N_BINS


def test_the_metric_uses_the_shared_constants() -> None:
    assert metric.FGS_WEIGHT is constants.FGS_WEIGHT
    assert metric.SIGMA_FLOOR is constants.SIGMA_FLOOR
    assert metric.N_BINS is constants.N_BINS
