"""Reusable neural-network building blocks for the SpectraMind models."""

from spectramind.model.modules.mamba_block import Mamba
from spectramind.model.modules.mamba_encoder import MambaEncoder, MambaResidualBlock

__all__ = ["Mamba", "MambaEncoder", "MambaResidualBlock"]
