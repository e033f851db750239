"""Low-level tensor ops for the SpectraMind models."""

from spectramind.model.ops.selective_scan import (
    has_mamba_ssm,
    selective_scan_fn,
    selective_scan_loop,
    selective_scan_ref,
)
from spectramind.model.ops.spectral import (
    challenge_log_likelihood,
    challenge_score,
    lowrank_posterior,
    lowrank_posterior_ref,
    second_difference,
)

__all__ = [
    "challenge_log_likelihood",
    "challenge_score",
    "has_mamba_ssm",
    "lowrank_posterior",
    "lowrank_posterior_ref",
    "second_difference",
    "selective_scan_fn",
    "selective_scan_loop",
    "selective_scan_ref",
]
