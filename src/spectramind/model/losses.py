"""Loss: the challenge Gaussian log-likelihood plus the symbolic loss engine.

Every term is a function ``term(out, y, ctx) -> scalar tensor`` in a registry; the total is
``sum(weight[name] * term)`` with the weights of config ``loss:``. Terms (all >= 0 except
``gll``; the symbolic ones are normalised by training-label statistics so that a spectrum
that looks like a training label scores ~1):

=============== ==================================================================================
gll             minus the (unclipped) challenge score: the Gaussian log-likelihood of y under
                (mu, sigma), normalised per element as the metric does
nonnegativity   mean(relu(-mu)^2) / naive_sigma^2: depths are >= 0
smoothness      mean over AIRS bins of (second difference of mu / training rms curvature)^2
coherence       mean((mu_FGS1 - alpha - beta * mean(mu_AIRS))^2) / scale^2: FGS1 and AIRS must
                agree as they do in the training labels
lowrank         mean over bins of ((I - P) (mu - mean))^2 / tau2: mu stays in the span of the
                training-label prior (P projects onto span(1, v_k); tau2 the planet's prior
                variance outside it, not differentiated)

Every normaliser is floored at ``STAT_FLOOR`` = 10 ppm (the metric's AIRS sigma_true).
=============== ==================================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from spectramind.defaults import schema_defaults
from spectramind.model.modules.spectral_head import SpectralPriorLayer
from spectramind.model.ops.spectral import challenge_score, second_difference
from spectramind.model.prior import STAT_FLOOR

__all__ = ["LOSS_TERMS", "LossConfig", "LossContext", "compute_loss"]


@dataclass(frozen=True)
class LossContext:
    """What the terms need besides the outputs: the naive statistics of the training labels
    and the model's prior layer (its buffers hold the label statistics)."""

    naive_mean: float
    naive_sigma: float
    prior: SpectralPriorLayer


Term = Callable[[Mapping[str, Tensor], Tensor | None, LossContext], Tensor]


def _gll(out: Mapping[str, Tensor], y: Tensor | None, ctx: LossContext) -> Tensor:
    if y is None:
        raise ValueError("the gll term needs labels")
    return -challenge_score(
        y, out["mu"], out["sigma"], naive_mean=ctx.naive_mean, naive_sigma=ctx.naive_sigma
    )


def _nonnegativity(out: Mapping[str, Tensor], y: Tensor | None, ctx: LossContext) -> Tensor:
    return torch.relu(-out["mu"]).square().mean() / ctx.naive_sigma**2


def _smoothness(out: Mapping[str, Tensor], y: Tensor | None, ctx: LossContext) -> Tensor:
    d2 = second_difference(out["mu"][:, 1:])
    return (d2 / ctx.prior.curvature).square().mean()


def _coherence(out: Mapping[str, Tensor], y: Tensor | None, ctx: LossContext) -> Tensor:
    alpha, beta, scale = ctx.prior.coherence
    mu = out["mu"]
    return ((mu[:, 0] - alpha - beta * mu[:, 1:].mean(dim=1)) / scale).square().mean()


def _lowrank(out: Mapping[str, Tensor], y: Tensor | None, ctx: LossContext) -> Tensor:
    q = ctx.prior.ortho
    r = out["mu"] - ctx.prior.mean
    rem = r - (r @ q) @ q.T
    return (rem.square() / out["tau2"].detach().clamp_min(STAT_FLOOR**2)).mean()


LOSS_TERMS: dict[str, Term] = {
    "gll": _gll,
    "nonnegativity": _nonnegativity,
    "smoothness": _smoothness,
    "coherence": _coherence,
    "lowrank": _lowrank,
}


@dataclass(frozen=True)
@schema_defaults("loss")
class LossConfig:
    """Weights of the terms (config ``loss:``; defaults: the schema); 0 switches a term off."""

    gll: float
    nonnegativity: float
    smoothness: float
    coherence: float
    lowrank: float

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> LossConfig:
        unknown = sorted(set(d) - set(LOSS_TERMS))
        if unknown:
            raise ValueError(f"unknown loss terms: {unknown} (known: {sorted(LOSS_TERMS)})")
        return cls(**{k: float(v) for k, v in d.items()})

    def weights(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in LOSS_TERMS}

    def symbolic_off(self) -> LossConfig:
        """The same config with every symbolic term switched off (the ablation)."""
        return LossConfig(
            gll=self.gll, nonnegativity=0.0, smoothness=0.0, coherence=0.0, lowrank=0.0
        )


def compute_loss(
    out: Mapping[str, Tensor], y: Tensor | None, ctx: LossContext, cfg: LossConfig
) -> tuple[Tensor, dict[str, float]]:
    """Weighted total and the value of every term (terms with weight 0 are not computed)."""
    total = out["mu"].new_zeros(())
    values: dict[str, float] = {}
    for name, weight in cfg.weights().items():
        if weight == 0.0:
            continue
        v = LOSS_TERMS[name](out, y, ctx)
        values[name] = float(v.detach())
        total = total + weight * v
    return total, values
