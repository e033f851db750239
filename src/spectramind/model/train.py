"""Training (seeded, deterministic on CPU, early stopping on a validation part of the train
split) and inference of :class:`~spectramind.model.models.spectra_model.SpectraModel`.

With ``folds = K >= 2`` the train split is cut into K seeded folds and K members are
trained, member k early-stopped on fold k: the result is a
:class:`~spectramind.model.models.ensemble.SpectraEnsemble`. Every train planet is then
held out by exactly one member, so the out-of-fold predictions score the whole train split
instead of one small validation part. With ``recalibrate`` those out-of-fold predictions
then fit the ensemble's mu/sigma recalibration (:mod:`spectramind.recalibration`, per
instrument, chosen by K-fold over planets; ``info["recalibration"]``), applied to every
prediction of the checkpoint (:func:`apply_recalibration`); ``info["oof_score"]`` and
``info["oof_coverage"]`` are then the *nested* out-of-fold figures of the recalibrated
predictions (each fold recalibrated by a fit on the other folds), ``info["oof_score_raw"]``
and ``info["oof_coverage_raw"]`` those of the members' own predictions. The recalibration is
fitted on single members' predictions and applied to the ensemble's mixture, which is a little
wider (the members' spread): it errs towards coverage above the nominal.

No early-stopping choice is made on fewer than ``min_val_planets`` planets: K is capped so
that every fold holds that many; when the train split is too small for even two such folds,
the members (K capped at half the planets) are trained without early stopping (the prior
scales keep their last step, the network its last epoch) and the log says so. A member whose
choice, made on enough planets, is epoch 0 (the untrained head: the prior layer alone) is
logged as falling back to the prior layer; ``info["members"]`` records per member its best
epoch, ``at_initialisation`` and whether it was ``early_stopped``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from spectramind import metric
from spectramind.defaults import default, schema_defaults
from spectramind.model.data import PlanetFeatures, normalisation_stats, star_frame
from spectramind.model.losses import LossConfig, LossContext, compute_loss
from spectramind.model.models.ensemble import SpectraEnsemble
from spectramind.model.models.spectra_model import ModelConfig, SpectraModel, to_tensors
from spectramind.model.prior import feature_amplitude, fit_spectral_prior
from spectramind.recalibration import (
    Recalibration,
    RecalibrationConfig,
    fit_recalibration,
    oof_predictions,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "apply_recalibration",
    "fit_model",
    "kfold_split",
    "predict",
    "resolve_device",
    "split_train_val",
]

log = logging.getLogger(__name__)

#: per-member entries of ``info["members"]`` (a K-fold ensemble) copied from its own info
_MEMBER_KEYS = (
    "best_epoch",
    "at_initialisation",
    "early_stopped",
    "prior_step",
    "epochs_run",
    "n_fit",
    "n_val",
    "val_score",
    "val_planets",
    "seconds",
)


@dataclass(frozen=True)
@schema_defaults("model.training")
class TrainConfig:
    """Config keys ``model.training.*`` and ``model.seed/device/threads`` of the optimisation
    (not saved into the architecture; defaults: the schema)."""

    max_epochs: int
    patience: int
    batch_size: int
    lr: float
    lr_scales: float
    prior_steps: int
    prior_lr: float
    scale_prior: float
    weight_decay: float
    grad_clip: float
    val_fraction: float
    folds: int
    min_val_planets: int
    log_every: int
    recalibrate: bool
    seed: int = default("model.seed")
    device: str = default("model.device")
    threads: int = default("model.threads")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown model training keys: {unknown}")
        return cls(**d)


@dataclass
class TrainResult:
    model: SpectraModel | SpectraEnsemble
    history: pd.DataFrame
    info: dict[str, Any]


def resolve_device(device: str) -> torch.device:
    """``auto``: CUDA when available, else CPU; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def split_train_val(
    n: int, val_fraction: float, seed: int, min_val: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``n`` planets: (fit indices, validation indices), each sorted.

    ``round(val_fraction n)`` (at least 1) validation planets, raised to ``min_val`` when the
    fit part keeps at least as many; at least 2 fit planets. None with ``val_fraction == 0``,
    below 3 planets, or when fewer than ``min_val`` would remain.
    """
    if n < 3 or val_fraction <= 0:
        return np.arange(n), np.arange(0)
    n_val = max(1, int(round(val_fraction * n)))
    if n_val < min_val:  # raised to the minimum, if the fit part keeps as many planets
        n_val = min_val if 2 * min_val <= n else 0
    n_val = min(n_val, n - 2)
    if n_val < max(1, min_val):
        return np.arange(n), np.arange(0)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def kfold_split(
    n: int, folds: int, seed: int, min_val: int = 2
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded K-fold split of ``n`` planets: ``[(fit indices, held-out indices)]``, each sorted.

    ``K = min(folds, n // min_val)`` so that every fold holds at least ``min_val`` planets;
    when that is below 2, ``K = min(folds, n // 2)`` (folds of >= 2 planets, too small to
    early-stop on); an empty list when even that is below 2 (train one model instead).
    """
    k = min(int(folds), n // max(1, min_val))
    if k < 2:
        k = min(int(folds), n // 2)
    if k < 2:
        return []
    perm = np.random.default_rng(seed).permutation(n)
    out = []
    for part in np.array_split(perm, k):
        held = np.sort(part)
        out.append((np.setdiff1d(np.arange(n), held), held))
    return out


def _subset(batch: Mapping[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[idx] for k, v in batch.items()}


def predict(
    model: SpectraModel | SpectraEnsemble,
    feats: PlanetFeatures | Mapping[str, torch.Tensor],
    *,
    device: torch.device | str | None = None,
    batch_size: int = 64,
    use_encoders: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``mu`` (clipped at 0) and ``sigma``, each (n, 283) float64 numpy, in the order of ``feats``
    (``use_encoders`` overrides the model's config, as in its ``forward``)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    batch = to_tensors(feats, device) if isinstance(feats, PlanetFeatures) else feats
    n = batch["depth"].shape[0]
    was_training = model.training
    model.eval()
    mus, sigmas = [], []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n), device=device)
            out = model(_subset(batch, idx), use_encoders=use_encoders)
            mus.append(out["mu"].cpu().numpy())
            sigmas.append(out["sigma"].cpu().numpy())
    model.train(was_training)
    return np.clip(np.concatenate(mus), 0.0, None), np.concatenate(sigmas)


def _score(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, naive: tuple[float, float]
) -> tuple[float, float]:
    s = metric.challenge_score(y, mu, sigma, naive_mean=naive[0], naive_sigma=naive[1], clip=False)
    return float(s), metric.coverage(y, mu, sigma, 1.0)


def _scale_penalty(
    params: list[torch.nn.Parameter], init: list[torch.Tensor], weight: float
) -> torch.Tensor:
    """``weight * sum((theta - theta_0)^2)``: a Gaussian hyperprior on the few calibration
    parameters around their initial values (MAP instead of maximum likelihood)."""
    total = params[0].new_zeros(())
    for p, p0 in zip(params, init, strict=True):
        total = total + (p - p0).square().sum()
    return weight * total


def _fit_scales(
    model: SpectraModel,
    batch: Mapping[str, torch.Tensor],
    y: torch.Tensor,
    ctx: LossContext,
    loss_config: LossConfig,
    params: list[torch.nn.Parameter],
    init: list[torch.Tensor],
    *,
    penalty: float,
    steps: int,
    lr: float,
    val: tuple[Mapping[str, torch.Tensor], np.ndarray] | None,
    naive: tuple[float, float],
    every: int = 10,
) -> int:
    """Stage 1: MAP fit of the prior layer's few parameters alone (encoders off; the
    zero-initialised head makes the output the prior posterior), full batch. With validation
    planets the parameters of the best validation score (checked every ``every`` steps, step
    0 included) are kept. Returns the step kept."""
    if steps <= 0:
        return 0
    opt = torch.optim.Adam(params, lr=lr)

    def val_score() -> float:
        assert val is not None
        mu, sigma = predict(model, val[0], use_encoders=False)
        return _score(val[1], mu, sigma, naive)[0]

    best = (val_score(), 0, [p.detach().clone() for p in params]) if val is not None else None
    model.train()
    for step in range(1, steps + 1):
        loss, _ = compute_loss(model(batch, use_encoders=False), y, ctx, loss_config)
        loss = loss + _scale_penalty(params, init, penalty)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if best is not None and (step % every == 0 or step == steps):
            score = val_score()
            if score > best[0]:
                best = (score, step, [p.detach().clone() for p in params])
    if best is None:
        return steps
    with torch.no_grad():
        for p, kept in zip(params, best[2], strict=True):
            p.copy_(kept)
    return best[1]


def fit_model(
    feats: PlanetFeatures,
    labels: np.ndarray,
    *,
    model_config: ModelConfig,
    loss_config: LossConfig,
    train_config: TrainConfig,
    progress: Callable[[str], None] = log.info,
) -> TrainResult:
    """Train a model on ``feats`` (n planets) with ``labels`` (n, 283).

    Seeded (``train_config.seed``) and, on CPU, deterministic: the same inputs give the same
    state_dict. Normalisation statistics and the spectral prior come from the fit part only;
    the prior layer's scales are first fitted alone (``prior_steps``, MAP with a Gaussian
    hyperprior of weight ``scale_prior / n_fit`` around their initial values, the step with
    the best validation score kept); then everything is
    trained and the model kept is the one with the best validation challenge score (epoch 0 =
    the untrained head, i.e. the calibrated prior posterior, is a candidate), or the last one
    without validation.

    ``folds >= 2``: a K-fold ensemble (see the module docstring) replaces the single
    ``val_fraction`` split; the result's model is then a :class:`SpectraEnsemble`, its history
    has a ``member`` column and its info the out-of-fold score and coverage.
    """
    tc = train_config
    labels = np.asarray(labels, dtype=float)
    if labels.shape != (len(feats), model_config.n_bins):
        raise ValueError(f"labels shape {labels.shape} != ({len(feats)}, {model_config.n_bins})")
    device = resolve_device(tc.device)
    splits = kfold_split(len(feats), tc.folds, tc.seed, tc.min_val_planets) if tc.folds >= 2 else []
    with _reproducible(device, tc.threads):
        if not splits:
            torch.manual_seed(tc.seed)
            return _fit(
                feats,
                labels,
                device,
                *split_train_val(len(feats), tc.val_fraction, tc.seed, tc.min_val_planets),
                model_config=model_config,
                loss_config=loss_config,
                train_config=tc,
                progress=progress,
            )
        return _fit_folds(
            feats,
            labels,
            device,
            splits,
            model_config=model_config,
            loss_config=loss_config,
            train_config=tc,
            progress=progress,
        )


def _fit_folds(
    feats: PlanetFeatures,
    labels: np.ndarray,
    device: torch.device,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    model_config: ModelConfig,
    loss_config: LossConfig,
    train_config: TrainConfig,
    progress: Callable[[str], None],
) -> TrainResult:
    """K members, member k seeded ``seed + k`` and early-stopped on fold k; one shared
    spectral rank (capped by the smallest fit part) so that they form one architecture."""
    t_start = time.perf_counter()
    n_fit_min = min(len(fit) for fit, _ in splits)
    cfg = replace(model_config, spectral_rank=min(model_config.spectral_rank, n_fit_min - 2))
    members, histories, member_info = [], [], []
    oof_mu, oof_sigma = np.full(labels.shape, np.nan), np.full(labels.shape, np.nan)
    for k, (fit_idx, held_idx) in enumerate(splits):
        progress(f"member {k + 1}/{len(splits)}: {len(held_idx)} planets held out")
        tc_k = replace(train_config, seed=train_config.seed + k)
        torch.manual_seed(tc_k.seed)
        res = _fit(
            feats,
            labels,
            device,
            fit_idx,
            held_idx,
            model_config=cfg,
            loss_config=loss_config,
            train_config=tc_k,
            progress=progress,
        )
        assert isinstance(res.model, SpectraModel)
        oof_mu[held_idx], oof_sigma[held_idx] = predict(res.model, feats.subset(held_idx))
        members.append(res.model)
        histories.append(res.history.assign(member=k))
        member_info.append({key: res.info[key] for key in _MEMBER_KEYS})
    naive = metric.naive_stats(labels)
    oof_score, oof_cov = _score(labels, oof_mu, oof_sigma, naive)
    progress(
        f"{len(splits)} members trained in {time.perf_counter() - t_start:.1f} s: out-of-fold "
        f"score {oof_score:.4f}, 1-sigma coverage {oof_cov:.3f} over all {len(feats)} "
        "train planets"
    )
    recal: dict[str, Any] = {}
    if train_config.recalibrate:
        recal = _recalibrate(oof_mu, oof_sigma, labels, len(splits), train_config.seed, progress)
    at_init = [k for k, m in enumerate(member_info) if m["at_initialisation"]]
    if at_init:
        progress(
            f"members {[k + 1 for k in at_init]} of {len(splits)} are at initialisation "
            "(the prior layer alone)"
        )
    info = {
        "members": member_info,
        "members_at_initialisation": len(at_init),
        "folds": len(splits),
        "best_epoch": max(m["best_epoch"] for m in member_info),
        "epochs_run": max(m["epochs_run"] for m in member_info),
        "n_fit": len(feats),
        "n_val": len(feats),
        "val_score": oof_score,
        "val_coverage": oof_cov,
        "oof_score": oof_score,
        "oof_coverage": oof_cov,
        "oof_score_raw": oof_score,
        "oof_coverage_raw": oof_cov,
        **recal,
        "naive_mean": naive[0],
        "naive_sigma": naive[1],
        "device": str(device),
        "seconds": time.perf_counter() - t_start,
    }
    ensemble = SpectraEnsemble(members)
    ensemble.eval()
    return TrainResult(model=ensemble, history=pd.concat(histories, ignore_index=True), info=info)


def _recalibrate(
    oof_mu: np.ndarray,
    oof_sigma: np.ndarray,
    labels: np.ndarray,
    folds: int,
    seed: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """The recalibration fitted on the out-of-fold predictions and its nested out-of-fold
    score and coverage (the ``info`` entries that replace the raw ones)."""
    cfg = RecalibrationConfig.from_dict({"features": False, "folds": folds, "seed": seed})
    recal = fit_recalibration(oof_mu, oof_sigma, labels, None, cfg, nested=False)
    nested_mu, nested_sigma = oof_predictions(oof_mu, oof_sigma, labels, {}, cfg)
    score, cov = _score(labels, nested_mu, nested_sigma, metric.naive_stats(labels))
    chosen = f"FGS1 {recal.fgs.model}, AIRS {recal.airs.model}"
    progress(
        f"recalibration of the out-of-fold predictions ({chosen}): nested out-of-fold score "
        f"{score:.4f}, 1-sigma coverage {cov:.3f}"
    )
    return {
        "recalibration": replace(recal, oof_score=score).to_dict(),
        "oof_score": score,
        "oof_coverage": cov,
        "val_score": score,
        "val_coverage": cov,
    }


def apply_recalibration(
    info: Mapping[str, Any], mu: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``mu, sigma`` through the recalibration of a checkpoint's training ``info`` (as given
    when it has none: a single model, or ``recalibrate`` off)."""
    doc = info.get("recalibration")
    if not doc:
        return mu, sigma
    return Recalibration.from_dict(doc).apply(mu, sigma)


@contextlib.contextmanager
def _reproducible(device: torch.device, threads: int) -> Iterator[None]:
    """On CPU: deterministic algorithms and a fixed thread count (both restored afterwards)."""
    if device.type != "cpu":
        yield
        return
    was_det, was_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_det)
        torch.set_num_threads(was_threads)


@dataclass
class _Run:
    """One model's training state: the model, its data (fit part and validation part as
    tensors), the loss context and the prior-layer scale parameters."""

    model: SpectraModel
    fit_t: dict[str, torch.Tensor]
    y_fit: np.ndarray
    y_fit_t: torch.Tensor
    val_t: dict[str, torch.Tensor] | None
    y_val: np.ndarray
    naive: tuple[float, float]
    ctx: LossContext
    scale_params: list[torch.nn.Parameter]
    init: list[torch.Tensor]
    penalty: float

    def evaluate(self) -> dict[str, float]:
        """Fit (and validation) score and 1-sigma coverage of the current model."""
        row: dict[str, float] = {}
        mu, sg = predict(self.model, self.fit_t)
        row["fit_score"], row["fit_coverage"] = _score(self.y_fit, mu, sg, self.naive)
        if self.val_t is not None:
            mu, sg = predict(self.model, self.val_t)
            row["val_score"], row["val_coverage"] = _score(self.y_val, mu, sg, self.naive)
        return row


def _build_run(
    fit: PlanetFeatures,
    y_fit: np.ndarray,
    val: PlanetFeatures,
    y_val: np.ndarray,
    device: torch.device,
    *,
    model_config: ModelConfig,
    scale_prior: float,
) -> _Run:
    """The spectral prior and normalisation from the fit part, the model on ``device``."""
    amp = feature_amplitude(star_frame(fit), y_fit[:, 1:].mean(axis=1))
    prior = fit_spectral_prior(y_fit, amp, rank=model_config.spectral_rank)
    model = SpectraModel(config=replace(model_config, spectral_rank=prior.rank))
    model.set_normalisation(normalisation_stats(fit))
    model.set_prior(prior)
    model.to(device)
    naive = metric.naive_stats(y_fit)
    scale_params = [
        p
        for n, p in model.named_parameters()
        if n.startswith("prior.") or n == "head.log_sigma_scale"
    ]
    return _Run(
        model=model,
        fit_t=to_tensors(fit, device),
        y_fit=y_fit,
        y_fit_t=torch.as_tensor(y_fit, dtype=torch.float64, device=device),
        val_t=to_tensors(val, device) if len(val) else None,
        y_val=y_val,
        naive=naive,
        ctx=LossContext(naive_mean=naive[0], naive_sigma=naive[1], prior=model.prior),
        scale_params=scale_params,
        init=[p.detach().clone() for p in scale_params],
        penalty=scale_prior / len(fit),
    )


def _optimiser(run: _Run, tc: TrainConfig) -> torch.optim.Optimizer:
    """AdamW: the networks (weight decay) and the prior layer's scales (none) apart."""
    scale_ids = {id(p) for p in run.scale_params}
    net_params = [p for p in run.model.parameters() if id(p) not in scale_ids]
    return torch.optim.AdamW(
        [
            {"params": net_params, "lr": tc.lr, "weight_decay": tc.weight_decay},
            {"params": run.scale_params, "lr": tc.lr_scales, "weight_decay": 0.0},
        ]
    )


def _train_epoch(
    run: _Run,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    loss_config: LossConfig,
    tc: TrainConfig,
) -> dict[str, float]:
    """One pass over the fit part in seeded random batches: mean loss and loss terms."""
    model, n = run.model, run.y_fit.shape[0]
    device = run.y_fit_t.device
    model.train()
    order = torch.randperm(n, generator=gen)
    terms_sum: dict[str, float] = {}
    loss_sum, n_batches = 0.0, 0
    for start in range(0, n, tc.batch_size):
        idx = order[start : start + tc.batch_size].to(device)
        out = model(_subset(run.fit_t, idx))
        loss, terms = compute_loss(out, run.y_fit_t[idx], run.ctx, loss_config)
        loss = loss + _scale_penalty(run.scale_params, run.init, run.penalty)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        loss_sum += float(loss.detach())
        n_batches += 1
        for k, v in terms.items():
            terms_sum[k] = terms_sum.get(k, 0.0) + v
    return {
        "loss": loss_sum / n_batches,
        **{f"loss_{k}": v / n_batches for k, v in terms_sum.items()},
    }


def _epoch_line(
    row: Mapping[str, float], best: Mapping[str, float], tc: TrainConfig, key: str | None
) -> str:
    return (
        f"epoch {int(row['epoch'])}/{tc.max_epochs}: loss {row['loss']:.4f}, fit score {row['fit_score']:.4f}"
        + (
            f", val score {row['val_score']:.4f} (best {best[key]:.4f} at {int(best['epoch'])})"
            if key
            else ""
        )
        + f", {row['seconds']:.1f} s"
    )


def _train_epochs(
    run: _Run,
    loss_config: LossConfig,
    tc: TrainConfig,
    *,
    early_stop: bool,
    t_start: float,
    progress: Callable[[str], None],
) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Epochs 1..max_epochs; with ``early_stop`` the state of the best validation score
    (epoch 0, the untrained head, included) is loaded back at the end, else the last one is
    kept. Returns (history rows with epoch 0 first, the kept epoch's scores)."""
    model = run.model
    opt, gen = _optimiser(run, tc), torch.Generator().manual_seed(tc.seed)
    best: dict[str, float] = {"epoch": 0, **run.evaluate()}
    history = [
        {
            "epoch": 0,
            "loss": math.nan,
            **{k: v for k, v in best.items() if k != "epoch"},
            "seconds": 0.0,
        }
    ]
    best_state = copy.deepcopy(model.state_dict())
    key = "val_score" if early_stop else None
    progress(
        f"epoch 0 (prior posterior): fit score {best['fit_score']:.4f}"
        + (f", val score {best['val_score']:.4f}" if "val_score" in best else "")
    )
    stale = 0
    for epoch in range(1, tc.max_epochs + 1):
        row = {"epoch": epoch, **_train_epoch(run, opt, gen, loss_config, tc), **run.evaluate()}
        row["seconds"] = time.perf_counter() - t_start
        history.append(row)
        if key is None or row[key] > best[key]:
            best = {
                "epoch": epoch,
                **{k: v for k, v in row.items() if k.endswith(("score", "coverage"))},
            }
            if key is not None:
                best_state = copy.deepcopy(model.state_dict())
            stale = 0
        else:
            stale += 1
        stop = key is not None and stale > tc.patience
        if epoch % tc.log_every == 0 or epoch == tc.max_epochs or stop:
            progress(_epoch_line(row, best, tc, key))
        if stop:
            progress(
                f"early stop at epoch {epoch}: no validation improvement for {tc.patience} epochs"
            )
            break
    if key is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history, best


def _fit_run_scales(
    run: _Run, loss_config: LossConfig, tc: TrainConfig, *, early_stop: bool
) -> int:
    """Stage 1 of one run (:func:`_fit_scales`), validated only with ``early_stop``."""
    return _fit_scales(
        run.model,
        run.fit_t,
        run.y_fit_t,
        run.ctx,
        loss_config,
        run.scale_params,
        run.init,
        penalty=run.penalty,
        steps=tc.prior_steps,
        lr=tc.prior_lr,
        naive=run.naive,
        val=(run.val_t, run.y_val) if early_stop and run.val_t is not None else None,
    )


def _fit(
    feats: PlanetFeatures,
    labels: np.ndarray,
    device: torch.device,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    model_config: ModelConfig,
    loss_config: LossConfig,
    train_config: TrainConfig,
    progress: Callable[[str], None],
) -> TrainResult:
    """One model: prior scales (stage 1), then everything (stage 2); both stages keep the
    step / epoch of the best validation score only when the validation part holds at least
    ``min_val_planets`` planets (else their last one)."""
    tc = train_config
    fit, val = feats.subset(fit_idx), feats.subset(val_idx)
    run = _build_run(
        fit,
        labels[fit_idx],
        val,
        labels[val_idx],
        device,
        model_config=model_config,
        scale_prior=tc.scale_prior,
    )
    early_stop = len(val) >= tc.min_val_planets
    if not early_stop:
        progress(
            f"{len(val)} validation planets < min_val_planets {tc.min_val_planets}: no early "
            f"stopping (prior scales keep step {tc.prior_steps}, the network epoch {tc.max_epochs})"
        )
    t_start = time.perf_counter()
    kept = _fit_run_scales(run, loss_config, tc, early_stop=early_stop)
    progress(
        f"prior scales fitted in {time.perf_counter() - t_start:.1f} s (step {kept} of "
        f"{tc.prior_steps} full-batch steps kept)"
    )
    progress(
        f"training on {device}: {len(fit)} fit + {len(val)} validation planets, spectral rank "
        f"{run.model.config.spectral_rank}, {sum(p.numel() for p in run.model.parameters())} parameters"
    )
    history, best = _train_epochs(
        run, loss_config, tc, early_stop=early_stop, t_start=t_start, progress=progress
    )
    at_init = int(best["epoch"]) == 0
    if at_init and early_stop:
        progress(
            f"falls back to the prior layer: no epoch beat the untrained head (epoch 0) on the "
            f"{len(val)} validation planets (prior scales at step {kept})"
        )
    info = {
        "best_epoch": int(best["epoch"]),
        "at_initialisation": at_init,
        "early_stopped": early_stop,
        "prior_step": int(kept),
        "epochs_run": int(history[-1]["epoch"]),
        "n_fit": len(fit),
        "n_val": len(val),
        "fit_planets": [int(i) for i in fit.planet_ids],
        "val_planets": [int(i) for i in val.planet_ids],
        "naive_mean": run.naive[0],
        "naive_sigma": run.naive[1],
        "device": str(device),
        "seconds": time.perf_counter() - t_start,
        **{k: float(v) for k, v in best.items() if k != "epoch"},
    }
    return TrainResult(model=run.model, history=pd.DataFrame(history), info=info)
