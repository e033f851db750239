"""The tiny model architecture shared by the tests (fast on CPU, every module exercised)."""

from spectramind.model.models.spectra_model import ModelConfig

TINY = ModelConfig(
    fgs_time_bin=1,
    airs_time_bin=1,
    airs_wavelength_bins=8,
    d_model=8,
    d_state=4,
    airs_hidden=8,
    airs_layers=2,
    d_fusion=8,
    n_heads=2,
    spectral_rank=3,
)
