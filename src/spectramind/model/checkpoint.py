"""Checkpoints: a ``state_dict`` (``model.pt``) plus a JSON config (``model_config.json``).

The state_dict holds every tensor, including the training-split normalisation statistics
and the spectral prior (buffers); for a K-fold ensemble
(:class:`~spectramind.model.models.ensemble.SpectraEnsemble`) the tensors of member ``k``
are under ``members.k.`` and the JSON's ``members`` is K (absent or 1: a single model).
The JSON holds the architecture (:class:`ModelConfig`),
the training summary and a copy of the statistics for reading. Loading rebuilds the network
from the JSON and loads the tensors with ``torch.load(..., weights_only=True)``; any
disagreement between the two files is a :class:`CheckpointError` naming the tensors.

Format versions: 2 (this one) adds the wavelength head (``model.wavelength_head``); a
version-1 config has no such key and still loads, as the network it was trained as
(``wavelength_head=False``: the pooled embedding alone). Any other version is a
:class:`CheckpointError`. ``training.members`` of an ensemble records per member its best
epoch and whether it is at initialisation (the prior layer alone).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import torch

from spectramind import __version__
from spectramind.atomic import atomic_write
from spectramind.model.models.ensemble import SpectraEnsemble
from spectramind.model.models.spectra_model import ModelConfig, SpectraModel

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "checkpoint_paths",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "spectramind-model"
FORMAT_VERSION = 2
#: versions :func:`load_checkpoint` reads; version 1 predates ``wavelength_head``
READABLE_VERSIONS = (1, 2)
MODEL_FILE, CONFIG_FILE = "model.pt", "model_config.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing files, wrong format, or tensors that do not
    match the network its config describes."""


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(model.pt, model_config.json) of a checkpoint folder, or of a ``.pt`` file with its JSON
    beside it."""
    p = Path(path)
    if p.suffix == ".pt":
        return p, p.with_name(CONFIG_FILE)
    return p / MODEL_FILE, p / CONFIG_FILE


def _stats(state: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, list]:
    """The normalisation statistics (``*_mean``/``*_std`` buffers) of one network."""
    out = {}
    for k, v in state.items():
        name = k[len(prefix) :]
        if k.startswith(prefix) and "." not in name and name.split("_")[-1] in ("mean", "std"):
            out[name] = v.tolist()
    return out


def save_checkpoint(
    model: SpectraModel | SpectraEnsemble,
    model_path: str | Path,
    config_path: str | Path,
    *,
    info: Mapping[str, Any] | None = None,
    provenance: Mapping[str, str] | None = None,
) -> None:
    """Write ``model.state_dict()`` and the JSON config (both atomically); ``provenance``:
    the attributes of :func:`spectramind.provenance.attributes`, kept under ``provenance``."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    members = len(model.members) if isinstance(model, SpectraEnsemble) else 1
    stats: dict[str, Any] | list[dict[str, Any]] = (
        [_stats(state, f"members.{k}.") for k in range(members)] if members > 1 else _stats(state)
    )
    doc = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "software": f"spectramind {__version__}",
        "torch": torch.__version__,
        "model": model.config.to_dict(),
        "members": members,
        "normalisation": stats,
        "training": dict(info or {}),
        "tensors": {k: list(v.shape) for k, v in state.items()},
    }
    if provenance is not None:
        doc["provenance"] = dict(provenance)
    atomic_write(model_path, lambda p: torch.save(state, p))
    atomic_write(
        Path(config_path), lambda p: p.write_text(json.dumps(doc, indent=2, default=float))
    )


def read_config(config_path: str | Path) -> dict[str, Any]:
    p = Path(config_path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint config not found")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{p}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise CheckpointError(f"{p}: expected a JSON object, got {type(doc).__name__}")
    version = doc.get("format_version")
    if doc.get("format") != CHECKPOINT_FORMAT or version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{p}: not a {CHECKPOINT_FORMAT} config of version "
            f"{' or '.join(f'v{v}' for v in READABLE_VERSIONS)} "
            f"(format {doc.get('format')!r}, version {version!r})"
        )
    if version == 1 and isinstance(doc.get("model"), dict):
        # v1 networks had no wavelength head: rebuild them as they were trained
        doc["model"] = {"wavelength_head": False, **doc["model"]}
    return doc


def _check_types(cfg: ModelConfig) -> None:
    """Each field has its default's type; sizes are positive (the spectral rank may be 0)."""
    for f in fields(cfg):
        value, default = getattr(cfg, f.name), f.default
        if default is MISSING:
            continue
        kind = float if type(default) is float else type(default)
        ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind is float
            else type(value) is kind
        )
        if not ok:
            raise TypeError(f"{f.name} must be {kind.__name__}, got {value!r}")
        if kind is int and value < (0 if f.name == "spectral_rank" else 1):
            raise ValueError(
                f"{f.name} must be {'>= 0' if f.name == 'spectral_rank' else '> 0'}, got {value}"
            )


def load_checkpoint(
    model_path: str | Path,
    config_path: str | Path | None = None,
    *,
    device: torch.device | str = "cpu",
) -> tuple[SpectraModel | SpectraEnsemble, dict[str, Any]]:
    """Rebuild the model (an ensemble when the JSON says ``members`` >= 2) from the JSON and
    load the state_dict (``weights_only=True``).

    Returns ``(model in eval mode on device, config document)``.
    """
    model_path = Path(model_path)
    config_path = Path(config_path) if config_path is not None else checkpoint_paths(model_path)[1]
    doc = read_config(config_path)
    try:
        cfg = ModelConfig.from_dict(doc["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: invalid model section ({exc})") from exc
    if not model_path.is_file():
        raise CheckpointError(f"{model_path}: checkpoint weights not found")
    try:
        state = torch.load(model_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors of every kind: not a plain tensor file
        raise CheckpointError(f"{model_path}: not a loadable state_dict ({exc})") from exc
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{model_path}: expected a state_dict, got {type(state).__name__}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{model_path}: expected a state_dict of named tensors")
    try:
        _check_types(cfg)
        members = doc.get("members", 1)
        if type(members) is not int or members < 1:
            raise ValueError(f"members must be an integer >= 1, got {members!r}")
        model: SpectraModel | SpectraEnsemble = (
            SpectraEnsemble.build(config=cfg, members=members)
            if members > 1
            else SpectraModel(config=cfg)
        )
    except (
        TypeError,
        ValueError,
        ZeroDivisionError,
        RuntimeError,
    ) as exc:  # sizes or names no network has
        raise CheckpointError(f"{config_path}: invalid model section ({exc})") from exc
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = sorted(
        f"{k} {got[k]} != {expected[k]}" for k in set(expected) & set(got) if got[k] != expected[k]
    )
    if missing or unexpected or wrong:
        parts = [
            f"missing {missing[:5]}" if missing else "",
            f"unexpected {unexpected[:5]}" if unexpected else "",
            f"shape mismatch {wrong[:5]}" if wrong else "",
        ]
        raise CheckpointError(
            f"{model_path} does not match the network of {config_path}: "
            + "; ".join(p for p in parts if p)
        )
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), doc
