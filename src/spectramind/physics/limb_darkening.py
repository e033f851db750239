"""Quadratic limb-darkening coefficients as a smooth function of wavelength and Teff."""

from __future__ import annotations

import numpy as np


def limb_darkening(wl_um: np.ndarray, teff: float) -> tuple[np.ndarray, np.ndarray]:
    """(u1, u2) per wavelength for a star of effective temperature ``teff`` (K).

    u1 = 0.44 (lambda / 0.7 um)^-0.85 (5800 / Teff)^0.5, u2 = 0.22 (lambda / 0.7 um)^-0.2:
    a smooth fit to the trend of tabulated quadratic coefficients of FGK dwarfs (limb
    darkening weakens towards the infrared and towards hotter stars). The transit fit uses it
    as the prior mean (the simulator computes its own, non-linear law: ``spectramind.sim.limb``).
    """
    wl = np.asarray(wl_um, dtype=float)
    if np.any(wl <= 0) or not np.isfinite(teff) or teff <= 0:
        raise ValueError("wavelengths and Teff must be positive")
    u1 = 0.44 * (wl / 0.7) ** -0.85 * np.sqrt(5800.0 / teff)
    u2 = 0.22 * (wl / 0.7) ** -0.2
    return u1, u2
