"""Assembled networks."""

from spectramind.model.models.ensemble import SpectraEnsemble, mixture_moments
from spectramind.model.models.spectra_model import ModelConfig, SpectraModel, to_tensors

__all__ = ["ModelConfig", "SpectraEnsemble", "SpectraModel", "mixture_moments", "to_tensors"]
