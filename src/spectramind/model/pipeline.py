"""File-level entry points of the model rules (read the products, call, write).

Config layout (``model:`` and ``loss:`` of config/config.yaml)::

    model: {checkpoint, device, threads, seed, architecture: {...ModelConfig}, training: {...}}
    loss:  {gll, nonnegativity, smoothness, coherence, lowrank}
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spectramind import provenance
from spectramind.atomic import atomic_write
from spectramind.model.checkpoint import load_checkpoint, save_checkpoint
from spectramind.model.data import load_planets
from spectramind.model.losses import LossConfig
from spectramind.model.models.spectra_model import ModelConfig
from spectramind.model.train import (
    TrainConfig,
    TrainResult,
    apply_recalibration,
    fit_model,
    predict,
    resolve_device,
)
from spectramind.predict import submission_frame, write_submission
from spectramind.workflow_io import truth_for

__all__ = ["configs_from_params", "predict_from_products", "train_from_products"]

log = logging.getLogger(__name__)


def configs_from_params(
    model: Mapping[str, Any], loss: Mapping[str, Any], *, threads: int | None = None
) -> tuple[ModelConfig, TrainConfig, LossConfig]:
    """The three configs from the ``model:`` and ``loss:`` config sections."""
    arch = ModelConfig.from_dict(dict(model.get("architecture", {})))
    training = dict(model.get("training", {}))
    for key in ("device", "seed"):
        if key in model:
            training[key] = model[key]
    training["threads"] = int(threads if threads is not None else model.get("threads", 1))
    return arch, TrainConfig.from_dict(training), LossConfig.from_dict(dict(loss))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _summary(info: Mapping[str, Any]) -> str:
    """One line: the kept epoch(s), how many members are at initialisation, the score."""
    members = info.get("members")
    if members is None:
        return (
            f"best epoch {info['best_epoch']} of {info['epochs_run']}"
            f"{' (at initialisation: the prior layer alone)' if info.get('at_initialisation') else ''}"
            f", validation score {info.get('val_score')}"
        )
    n_init = sum(bool(m["at_initialisation"]) for m in members)
    return (
        f"{len(members)} members, best epochs {[m['best_epoch'] for m in members]}, "
        f"{n_init} at initialisation, early-stopped {[m['early_stopped'] for m in members]}; "
        f"out-of-fold score {info.get('oof_score')} over every train planet"
    )


def train_from_products(
    *,
    cubes: Sequence[str | Path],
    fits: Sequence[str | Path],
    labels: str | Path,
    model_params: Mapping[str, Any],
    loss_params: Mapping[str, Any],
    threads: int,
    out_model: str | Path,
    out_config: str | Path,
    out_history: str | Path,
    config: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train on the train split's cubes + physics fits + labels; write the checkpoint and history.

    ``config``: the run's whole config (``snakemake.config``), hashed into the checkpoint's
    provenance beside the ``model`` section's hash."""
    arch, tc, lc = configs_from_params(model_params, loss_params, threads=threads)
    t0 = time.perf_counter()
    feats = load_planets(
        cubes, fits, fgs_time_bin=arch.fgs_time_bin, airs_wavelength_bins=arch.airs_wavelength_bins
    )
    y = truth_for(labels, "train", feats.planet_ids)
    log.info(
        "loaded %d train planets in %.1f s: fgs %s, airs %s",
        len(feats),
        time.perf_counter() - t0,
        feats.fgs.shape,
        feats.airs.shape,
    )
    log.info("model %s; training %s; loss %s", arch, tc, lc)
    result = fit_model(
        feats, y, model_config=arch, loss_config=lc, train_config=tc, progress=log.info
    )
    result.info["peak_rss_mb"] = _peak_rss_mb()
    if torch.cuda.is_available() and result.info["device"].startswith("cuda"):
        result.info["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    result.info["loss"] = lc.weights()
    result.info["train_config"] = {k: getattr(tc, k) for k in tc.__dataclass_fields__}
    prov = provenance.attributes(
        section="model",
        section_config={"model": dict(model_params), "loss": dict(loss_params)},
        stages=[{"train": provenance.COMPLETE}],
        config=config,
    )
    save_checkpoint(result.model, out_model, out_config, info=result.info, provenance=prov)
    atomic_write(out_history, lambda tmp: result.history.to_csv(tmp, index=False))
    log.info(
        "%s; %.1f s, peak RSS %.0f MB",
        _summary(result.info),
        result.info["seconds"],
        result.info["peak_rss_mb"],
    )
    return result


def predict_from_products(
    *,
    cubes: Sequence[str | Path],
    fits: Sequence[str | Path],
    model_path: str | Path,
    config_path: str | Path,
    device: str,
    out: str | Path,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predict a split with a checkpoint (trained here or given by ``model.checkpoint``)."""
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    model, doc = load_checkpoint(model_path, config_path, device=dev)
    cfg = model.config
    log.info(
        "checkpoint %s (%s, trained on %s planets)",
        model_path,
        doc.get("software"),
        doc.get("training", {}).get("n_fit"),
    )
    t0 = time.perf_counter()
    feats = load_planets(
        cubes, fits, fgs_time_bin=cfg.fgs_time_bin, airs_wavelength_bins=cfg.airs_wavelength_bins
    )
    t1 = time.perf_counter()
    mu, sigma = predict(model, feats, device=dev)
    mu, sigma = apply_recalibration(doc.get("training", {}), mu, sigma)
    t2 = time.perf_counter()
    write_submission(submission_frame(feats.planet_ids, mu, sigma), out)
    n = len(feats)
    log.info(
        "%d planets on %s: loading %.3f s/planet, inference %.4f s/planet; peak RSS %.0f MB",
        n,
        dev,
        (t1 - t0) / n,
        (t2 - t1) / n,
        _peak_rss_mb(),
    )
    return feats.planet_ids, mu, sigma
