"""``submission.method: auto``: submit the method with the best out-of-fold train score.

Each method's evidence is a challenge score (unclipped, so that two bad methods still rank) of
train predictions that did not see their own labels:

* ``model``: ``oof_score`` of ``model_config.json`` (the K-fold ensemble's out-of-fold
  predictions over every train planet; with ``model.training.recalibrate``, their nested
  out-of-fold score after the recalibration, as for the physics below). A single model (too few planets for K folds, or
  ``folds: 1``) has none: its validation planets also chose its early-stopping epoch, so its
  validation score is not out-of-fold evidence, and the model is then not a candidate.
* ``physics``: the fits are not fitted on the labels; only the recalibration is. Its score is
  the recalibration's nested out-of-fold score (:mod:`spectramind.recalibration`): fold k's
  predictions are recalibrated by the whole procedure (model choice included) run on the
  other folds. Scoring the recalibrated train predictions as written would score the
  recalibration on its own fitting data. Without a recalibration, or with fewer train planets
  than ``recalibration.min_planets``, the raw fits are scored: they are out-of-sample already.
* ``constant``: the same K folds, the mean and sigma fitted on the other folds.

The choice is the best score; ties go to the simpler method (constant, physics, model). With
no score at all, physics, the one method that learns from labels only through its recalibration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from spectramind import metric
from spectramind.predict import constant_baseline, fit_recalibration

__all__ = ["MethodChoice", "choose_method", "fold_indices", "oof_constant", "oof_physics"]

#: simplest first: a tie is resolved in favour of the method with fewer fitted parameters
ORDER = ("constant", "physics", "model")
#: the method submitted when no method has an out-of-fold score
NO_EVIDENCE = "physics"


def fold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Held-out indices of a seeded K-fold of ``n`` items, ``K = min(folds, n)`` (leave-one-out
    when ``n <= folds``); empty below 2 items (nothing to fit on)."""
    k = min(int(folds), n)
    if n < 2 or k < 2:
        return []
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, k)]


def _score(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, naive: tuple[float, float]) -> float:
    return float(
        metric.challenge_score(y, mu, sigma, naive_mean=naive[0], naive_sigma=naive[1], clip=False)
    )


def oof_physics(
    mu: np.ndarray,
    sigma: np.ndarray,
    y: np.ndarray,
    recal: Mapping[str, Any],
    *,
    features: Mapping[str, np.ndarray] | None = None,
) -> float | None:
    """Out-of-fold score of the physics predictions ``mu, sigma`` (n, 283) of the train planets
    against their labels ``y``: the recalibration's nested K-fold score (config
    ``recalibration:``, ``features`` of the physics products), or the raw fits' score when the
    recalibration is off or has too few planets (the fits never saw a label)."""
    if not (recal["sigma"] or recal["mean"]):
        return _score(y, mu, sigma, metric.naive_stats(y))
    return fit_recalibration(mu, sigma, y, features, recal).oof_score


def oof_constant(y: np.ndarray, *, folds: int, seed: int) -> float | None:
    """Out-of-fold score of the constant baseline on the train labels ``y`` (n, 283)."""
    parts = fold_indices(len(y), folds, seed)
    if not parts:
        return None
    mu, sigma = np.empty_like(y), np.empty_like(y)
    for held in parts:
        fit = np.setdiff1d(np.arange(len(y)), held)
        mu[held], sigma[held] = constant_baseline(y[fit], len(held))
    return _score(y, mu, sigma, metric.naive_stats(y))


@dataclass(frozen=True)
class MethodChoice:
    method: str
    scores: dict[str, float | None]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "scores": self.scores, "reason": self.reason}


def choose_method(scores: Mapping[str, float | None]) -> MethodChoice:
    """The method with the best finite out-of-fold score (``None``: no evidence)."""
    known = {m: s for m, s in scores.items() if s is not None and np.isfinite(s)}
    unknown = sorted(set(scores) - set(known))
    if not known:
        return MethodChoice(
            NO_EVIDENCE,
            dict(scores),
            f"no method has an out-of-fold train score: {NO_EVIDENCE}, which learns nothing "
            "from the labels but its recalibration",
        )
    best = max(known.values())
    method = next(m for m in ORDER if m in known and known[m] == best)
    listed = ", ".join(f"{m} {s:.4f}" for m, s in sorted(known.items(), key=lambda kv: -kv[1]))
    reason = f"best out-of-fold train score: {listed}"
    if unknown:
        reason += f" (no out-of-fold score: {', '.join(unknown)})"
    return MethodChoice(method, dict(scores), reason)
