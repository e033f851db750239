"""Assembled networks."""

from spectramind.model.models.spectra_model import ModelConfig, SpectraModel, to_tensors

__all__ = ["ModelConfig", "SpectraModel", "to_tensors"]
