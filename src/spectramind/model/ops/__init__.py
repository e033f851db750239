"""Low-level tensor ops for the SpectraMind models."""

from spectramind.model.ops.selective_scan import (
    has_mamba_ssm,
    selective_scan_fn,
    selective_scan_loop,
    selective_scan_ref,
)

__all__ = ["has_mamba_ssm", "selective_scan_fn", "selective_scan_loop", "selective_scan_ref"]
