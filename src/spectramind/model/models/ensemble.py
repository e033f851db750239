"""SpectraEnsemble: the K members of a K-fold training, predicting as one Gaussian mixture.

Member ``k`` is a :class:`~spectramind.model.models.spectra_model.SpectraModel` trained with
the planets of fold ``k`` held out for its early stopping (``model.training.folds``). Each
member predicts ``N(mu_k, sigma_k^2)`` per bin; the ensemble returns the moments of their
equal-weight mixture::

    mu    = mean_k mu_k
    sigma = sqrt(mean_k sigma_k^2 + mean_k (mu_k - mu)^2)

The spread of the members' means is the part of the uncertainty that comes from the finite
training set (each member saw a different 1 - 1/K of it); leaving it out would make the
mixture over-confident wherever the members disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from spectramind.model.models.spectra_model import ModelConfig, SpectraModel

__all__ = ["SpectraEnsemble", "mixture_moments"]


def mixture_moments(mus: Sequence[Tensor], sigmas: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Mean and std of the equal-weight mixture of ``N(mu_k, sigma_k^2)``, elementwise."""
    if len(mus) != len(sigmas) or not mus:
        raise ValueError(f"need as many mus as sigmas (>= 1), got {len(mus)} and {len(sigmas)}")
    m, s = torch.stack(list(mus)), torch.stack(list(sigmas))
    mu = m.mean(dim=0)
    return mu, (s.square() + (m - mu).square()).mean(dim=0).sqrt()


class SpectraEnsemble(nn.Module):
    """``members`` SpectraModels of one architecture; ``forward`` gives the mixture's
    ``{"mu", "sigma"}`` (n, 283), with the members' own outputs under ``"members"``."""

    def __init__(self, models: Sequence[SpectraModel]) -> None:
        super().__init__()
        if len(models) < 2:
            raise ValueError(f"an ensemble needs >= 2 members, got {len(models)}")
        configs = {m.config for m in models}
        if len(configs) != 1:
            raise ValueError(f"ensemble members must share one architecture, got {configs}")
        self.config: ModelConfig = models[0].config
        self.members = nn.ModuleList(models)

    @classmethod
    def build(cls, *, config: ModelConfig, members: int) -> SpectraEnsemble:
        """``members`` untrained SpectraModels of architecture ``config`` (to load weights into)."""
        return cls([SpectraModel(config=config) for _ in range(max(members, 0))])

    def forward(
        self, batch: dict[str, Tensor], *, use_encoders: bool | None = None
    ) -> dict[str, Tensor]:
        outs = [m(batch, use_encoders=use_encoders) for m in self.members]
        mu, sigma = mixture_moments([o["mu"] for o in outs], [o["sigma"] for o in outs])
        return {"mu": mu, "sigma": sigma}
