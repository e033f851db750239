"""Config defaults, read from the one place they are defined: the config schema.

``spectramind/config.schema.yaml`` (``schemas/config.schema.yaml`` in the workflow is a link
to it) gives every key its type, range and default; Snakemake fills a run's config from it.
The package's config dataclasses and the CLI take their defaults from here, so a default is
written once::

    @dataclass(frozen=True)
    class FitConfig:
        min_snr: float = default("physics.min_snr")

Nested objects (``calibration.dark_dt_s``, ``model.architecture``) come back as dicts of
their own defaults; a mutable default must go through ``dataclasses.field(default_factory=
lambda: default(...))``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from importlib import resources
from typing import Any

import yaml

SCHEMA_NAME = "config.schema.yaml"


@functools.cache
def _schema() -> dict:
    text = resources.files("spectramind").joinpath(SCHEMA_NAME).read_text()
    return yaml.safe_load(text)


def schema() -> dict:
    """The config schema (a deep copy: callers may not change the cached one)."""
    return copy.deepcopy(_schema())


def _node(dotted: str) -> dict:
    node = _schema()
    for part in dotted.split("."):
        props = node.get("properties")
        if not props or part not in props:
            raise KeyError(f"{dotted!r} is not a key of {SCHEMA_NAME} (no {part!r})")
        node = props[part]
    return node


def _is_leaf(node: dict) -> bool:
    """A key with a value of its own: no sub-keys, or an object with its own whole default
    (``calibration.dark_dt_s``); a section's ``default: {}`` only says "fill my keys"."""
    return "properties" not in node or node.get("default", {}) != {}


def _value(node: dict, dotted: str) -> Any:
    if not _is_leaf(node):
        return {k: _value(v, f"{dotted}.{k}") for k, v in node["properties"].items()}
    if "default" not in node:
        raise KeyError(f"{dotted!r} has no default in {SCHEMA_NAME}")
    return copy.deepcopy(node["default"])


def default(dotted: str) -> Any:
    """The default of one key (``"physics.min_snr"``), or a section's defaults as a dict."""
    return _value(_node(dotted), dotted)


def leaves(dotted: str = "") -> dict[str, Any]:
    """Every leaf key under ``dotted`` (all of the schema for ``""``) with its default."""
    node = _node(dotted) if dotted else _schema()
    out: dict[str, Any] = {}

    def walk(n: dict, prefix: str) -> None:
        if not _is_leaf(n):
            for k, v in n["properties"].items():
                walk(v, f"{prefix}.{k}" if prefix else k)
        else:
            out[prefix] = _value(n, prefix)

    walk(node, dotted)
    return out


def _frozen(value: Any) -> Any:
    """Lists as tuples, recursively (a dataclass default must not be a shared mutable)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def schema_defaults(section: str, *, exclude: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator (below ``@dataclass``): every annotated field named like a key of
    ``section`` gets that key's schema default (lists as tuples, dicts by a factory). Every key
    of the section must be a field, unless listed in ``exclude`` (keys another class reads);
    a field with no schema key keeps its own default (derived values, not config)."""

    def wrap(cls: type) -> type:
        keys = {k: _value(n, f"{section}.{k}") for k, n in _node(section)["properties"].items()}
        missing = sorted(set(keys) - set(cls.__annotations__) - set(exclude))
        if missing:
            raise TypeError(f"{cls.__name__}: keys of {section!r} with no field: {missing}")
        for name in cls.__annotations__:
            if name not in keys or name in exclude:
                continue
            value = _frozen(keys[name])
            if isinstance(value, dict):
                setattr(
                    cls, name, dataclasses.field(default_factory=functools.partial(dict, value))
                )
            else:
                setattr(cls, name, value)
        return cls

    return wrap
