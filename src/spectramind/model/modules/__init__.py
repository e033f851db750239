"""Reusable neural-network building blocks for the SpectraMind models."""

from spectramind.model.modules.airs_encoder import AirsCNNEncoder, AirsGNNEncoder
from spectramind.model.modules.fusion import ConcatFusion, CrossAttentionFusion
from spectramind.model.modules.mamba_block import Mamba
from spectramind.model.modules.mamba_encoder import MambaEncoder, MambaResidualBlock
from spectramind.model.modules.spectral_head import HeteroscedasticHead, SpectralPriorLayer

__all__ = [
    "AirsCNNEncoder",
    "AirsGNNEncoder",
    "ConcatFusion",
    "CrossAttentionFusion",
    "HeteroscedasticHead",
    "Mamba",
    "MambaEncoder",
    "MambaResidualBlock",
    "SpectralPriorLayer",
]
