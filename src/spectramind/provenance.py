"""Provenance attributes of every NetCDF product: one helper, one set of names.

Each product (calibrated series, cube, stage products; physics fits, predictions and the model
config through the same call) carries, as global attributes:

``software``
    ``spectramind <version>``.
``config_sha256``
    sha256 of the WHOLE run config (:func:`spectramind.lineage.config_sha256`, the hash the run
    manifest records: a product and its manifest can be matched).
``<section>_config_sha256`` and ``<section>_config``
    sha256 and canonical JSON of the config section that parametrised the product
    (``calibration_config_sha256``, ``fit_config_sha256``, ...).
``stages``
    JSON list, one object per visit (index = the ``visit`` coordinate), each mapping a stage
    name to ``COMPLETE`` or ``SKIPPED`` (JWST's ``meta.cal_step``).
``reference_files``
    JSON list of ``{"name", "sha256"}`` of every reference file the product was made from
    (calibration maps, ADC and axis tables, wavelength grid: JWST's ``meta.ref_file``); names
    are relative to the data root, so a product does not depend on where the data lie.

Predictions (CSV, which has no attributes) carry the same record in a JSON sidecar,
``{split}.provenance.json`` (:func:`prediction_record`, :func:`write_record`): the attributes
above plus ``method``, ``split`` and ``inputs``, the name and sha256 of every product the
predictions were made from (fits, cubes, checkpoint, recalibration).

Attribute values are strings (NetCDF attributes cannot nest): :func:`stages_from_attrs` and
:func:`reference_files_from_attrs` read them back. Nothing here has a wall-clock time: two runs
of one config write identical products.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from spectramind import __version__
from spectramind.atomic import atomic_write_text
from spectramind.lineage import config_sha256, jsonable, sha256_file

__all__ = [
    "COMPLETE",
    "SKIPPED",
    "RefFile",
    "attributes",
    "inherit",
    "prediction_record",
    "read_record",
    "reference_file",
    "reference_files_from_attrs",
    "section_sha256",
    "stage_record",
    "stages_from_attrs",
    "submitted_record",
    "with_stage",
    "write_record",
]

COMPLETE = "COMPLETE"
SKIPPED = "SKIPPED"
STATUSES = (COMPLETE, SKIPPED)
Stages = tuple[dict[str, str], ...]


@dataclass(frozen=True, order=True)
class RefFile:
    """A reference file a product was made from: its name (relative to the data root, POSIX
    separators) and the sha256 of its bytes."""

    name: str
    sha256: str


def reference_file(path: str | Path, root: str | Path) -> RefFile:
    """:class:`RefFile` of ``path`` (inside ``root``), hashing its bytes now.

    The name is lexical (absolute paths, links NOT followed): a data root whose planet folders
    are links into another disk (a Kaggle input, a staged copy) still names its files
    relative to itself. Raises ValueError for a path outside ``root``: its name would depend
    on the machine.
    """
    path, root = Path(path), Path(root)
    rel = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root)))
    if rel.parts[:1] == ("..",) or rel.is_absolute():
        raise ValueError(f"reference file {path} is not inside the data root {root}")
    return RefFile(rel.as_posix(), sha256_file(path))


def stage_record(done: Iterable[str], skipped: Iterable[str] = ()) -> dict[str, str]:
    """``{stage: COMPLETE}`` for ``done`` then ``{stage: SKIPPED}`` for ``skipped``, in order.

    Raises ValueError for a stage named in both."""
    done, skipped = list(done), list(skipped)
    both = sorted(set(done) & set(skipped))
    if both:
        raise ValueError(f"stages {both} are both COMPLETE and SKIPPED")
    return {**dict.fromkeys(done, COMPLETE), **dict.fromkeys(skipped, SKIPPED)}


def with_stage(stages: Sequence[Mapping[str, str]], stage: str, status: str = COMPLETE) -> Stages:
    """Every visit's record of ``stages`` with ``stage`` set to ``status`` (new records)."""
    _check_status(stage, status)
    return tuple({**s, stage: status} for s in stages)


def _check_status(stage: str, status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"stage {stage!r}: status {status!r} is not one of {STATUSES}")


def _section_dict(section_config: Mapping[str, Any] | Any) -> Any:
    if is_dataclass(section_config) and not isinstance(section_config, type):
        section_config = asdict(section_config)
    if not isinstance(section_config, Mapping):
        raise TypeError(f"a config section is a mapping or a dataclass, got {section_config!r}")
    return jsonable(section_config)


def section_sha256(section_config: Mapping[str, Any] | Any) -> str:
    """sha256 of one config section (a mapping or a config dataclass), as recorded in
    ``<section>_config_sha256``."""
    return config_sha256(_section_dict(section_config))


def attributes(
    *,
    section: str,
    section_config: Mapping[str, Any] | Any,
    stages: Sequence[Mapping[str, str]],
    config: Mapping[str, Any] | None = None,
    reference_files: Iterable[RefFile] = (),
) -> dict[str, str]:
    """The provenance attributes (module docstring) of a product.

    section: the config section's name (``"calibration"``); section_config: that section, a
    mapping or a config dataclass; stages: one record per visit (a product without visits
    passes one record); config: the whole run config (``snakemake.config``), None outside a
    run (no ``config_sha256`` is then written: the section alone is not the whole config);
    reference_files: duplicates are written once, sorted by name.
    """
    for record in stages:
        for stage, status in record.items():
            _check_status(stage, status)
    sec = _section_dict(section_config)
    refs = sorted(set(reference_files))
    names = [r.name for r in refs]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ValueError(f"reference files {clash} recorded with different sha256")
    attrs = {
        "software": f"spectramind {__version__}",
        f"{section}_config_sha256": section_sha256(sec),
        f"{section}_config": json.dumps(sec, sort_keys=True, separators=(",", ":")),
        "stages": json.dumps([dict(s) for s in stages]),
        "reference_files": json.dumps([asdict(r) for r in refs]),
    }
    if config is not None:
        attrs["config_sha256"] = config_sha256(config)
    return attrs


def stages_from_attrs(attrs: Mapping[str, Any]) -> Stages:
    """The per-visit stage records of a product's attributes (inverse of :func:`attributes`).

    Raises ValueError when ``stages`` is missing or is not a list of records."""
    try:
        stages = json.loads(attrs["stages"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"no per-visit 'stages' attribute: {exc}") from None
    if not isinstance(stages, list) or not all(isinstance(s, dict) for s in stages):
        raise ValueError(f"'stages' is not a list of per-visit records: {attrs['stages']!r}")
    return tuple(stages)


def reference_files_from_attrs(attrs: Mapping[str, Any]) -> tuple[RefFile, ...]:
    """The reference files of a product's attributes (empty when it names none)."""
    return tuple(RefFile(**r) for r in json.loads(attrs.get("reference_files", "[]")))


def inherit(
    parent_attrs: Mapping[str, Any],
    *,
    stage: str,
    section: str,
    section_config: Mapping[str, Any] | Any,
    config: Mapping[str, Any] | None = None,
    reference_files: Iterable[RefFile] = (),
) -> dict[str, str]:
    """:func:`attributes` of a product made from another (a fit from a cube): the parent's
    per-visit stages with ``stage`` COMPLETE and the parent's reference files, plus
    ``reference_files`` of this step. The parent's own section hash (e.g.
    ``calibration_config_sha256``) is carried over beside this product's."""
    carried = {
        k: str(v)
        for k, v in parent_attrs.items()
        if k.endswith("_config_sha256") and k != f"{section}_config_sha256"
    }
    return {
        **carried,
        **attributes(
            section=section,
            section_config=section_config,
            stages=with_stage(stages_from_attrs(parent_attrs), stage),
            config=config,
            reference_files=[*reference_files_from_attrs(parent_attrs), *reference_files],
        ),
    }


def prediction_record(
    *,
    method: str,
    split: str,
    section: str,
    section_config: Mapping[str, Any] | Any,
    config: Mapping[str, Any] | None,
    inputs: Iterable[str | Path],
    stage: str = "predict",
) -> dict[str, str]:
    """The provenance record of a split's predictions (module docstring): :func:`attributes`
    with one ``{stage: COMPLETE}`` record, plus ``method``, ``split`` and ``inputs``, the JSON
    list of ``{"name", "sha256"}`` of every input product (names as given: paths relative to
    the run's working folder; duplicates once, sorted)."""
    files = sorted({Path(p).as_posix() for p in inputs})
    return {
        **attributes(
            section=section,
            section_config=section_config,
            stages=[{stage: COMPLETE}],
            config=config,
        ),
        "method": method,
        "split": split,
        "inputs": json.dumps([{"name": f, "sha256": sha256_file(f)} for f in files]),
    }


def write_record(record: Mapping[str, str], path: str | Path) -> None:
    """Write a provenance record as JSON, atomically."""
    atomic_write_text(path, json.dumps(dict(record), indent=1, sort_keys=True) + "\n")


def read_record(path: str | Path) -> dict[str, str]:
    """A provenance record written by :func:`write_record`; ValueError naming the file when it
    is not one (not JSON, not an object of strings, no ``stages``)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a provenance record: {exc}") from None
    if not isinstance(record, dict) or not all(isinstance(v, str) for v in record.values()):
        raise ValueError(f"{path}: a provenance record is a JSON object of strings")
    stages_from_attrs(record)
    return record


def submitted_record(record: Mapping[str, str], predictions: str | Path) -> dict[str, str]:
    """The record of a submission made from predictions with provenance ``record``: the same
    record with stage ``submit`` COMPLETE and the predictions file (name, sha256) as input."""
    stages = with_stage(stages_from_attrs(record), "submit")
    inputs = [*json.loads(record.get("inputs", "[]"))]
    inputs.append({"name": Path(predictions).as_posix(), "sha256": sha256_file(predictions)})
    return {**record, "stages": json.dumps([dict(s) for s in stages]), "inputs": json.dumps(inputs)}
