"""Limb darkening of the simulated stars, computed from a model stellar atmosphere.

Independent of the pipeline (``spectramind.physics`` uses a quadratic law with its own
coefficient trend): here the centre-to-limb intensity is computed from first principles and
represented by the 4-parameter non-linear law of Claret (2000), which ``batman`` evaluates.

Atmosphere: a grey, plane-parallel atmosphere in radiative equilibrium in the Eddington
approximation, T^4(tau) = 3/4 Teff^4 (tau + 2/3) (Eddington 1926, *The Internal Constitution
of the Stars*; Mihalas 1978, *Stellar Atmospheres*, 2nd ed., eq. 3-16). In LTE the source
function at wavelength lambda is the Planck function, S(tau) = B_lambda(T(tau)), and the
emergent intensity is the formal solution of the transfer equation (Mihalas 1978, eq. 2-92;
Chandrasekhar 1950, *Radiative Transfer*, ch. I)

    I_lambda(mu) = int_0^inf B_lambda(T(tau)) exp(-tau/mu) dtau/mu
                 = int_0^inf B_lambda(T(mu x)) exp(-x) dx,

evaluated by Gauss-Laguerre quadrature. The grey opacity makes the profile depend on Teff
and lambda only (not on log g, which in a grey atmosphere only sets the pressure scale).
The profile I(mu)/I(1) on a grid of mu is fitted by linear least squares with the law
I(mu)/I(1) = 1 - sum_{n=1..4} c_n (1 - mu^(n/2)) (Claret 2000, A&A 363, 1081, eq. 6).
Real atmospheres (Kurucz/PHOENIX) darken somewhat more in the optical; in the infrared the
grey profile is within ~0.05 of tabulated ones, so this is a realistic, independent truth.
"""

from __future__ import annotations

import numpy as np

HC_OVER_K_UM_K = 14387.77  # h c / k in um K
N_LAGUERRE = 48  # Gauss-Laguerre nodes: the integrand is smooth, 48 nodes converge to 1e-8
MU_GRID = np.linspace(0.01, 1.0, 100)  # mu sampled for the least-squares fit


def planck_lambda(wl_um: np.ndarray | float, temp_k: np.ndarray | float) -> np.ndarray:
    """Planck spectral radiance B_lambda(T) up to a constant: lambda^-5 / (exp(hc/lambda k T) - 1)."""
    wl = np.asarray(wl_um, dtype=float)
    return wl**-5 / np.expm1(HC_OVER_K_UM_K / (wl * np.asarray(temp_k, dtype=float)))


def eddington_temperature(tau: np.ndarray, teff_k: float) -> np.ndarray:
    """Grey-atmosphere temperature T(tau) = Teff (3/4 (tau + 2/3))^(1/4) (Eddington)."""
    return teff_k * (0.75 * (np.asarray(tau, dtype=float) + 2.0 / 3.0)) ** 0.25


def grey_intensity(mu: np.ndarray, wl_um: np.ndarray, teff_k: float) -> np.ndarray:
    """Emergent intensity I_lambda(mu) (len(wl), len(mu)) of the grey Eddington atmosphere."""
    x, w = np.polynomial.laguerre.laggauss(N_LAGUERRE)
    mu = np.asarray(mu, dtype=float)
    temp = eddington_temperature(mu[:, None] * x[None, :], teff_k)  # (mu, node)
    b = planck_lambda(np.asarray(wl_um, dtype=float)[:, None, None], temp[None])  # (wl, mu, node)
    return (b * w).sum(axis=-1)


def nonlinear_basis(mu: np.ndarray) -> np.ndarray:
    """Design matrix (len(mu), 4) of the non-linear law: columns 1 - mu^(n/2), n = 1..4."""
    mu = np.asarray(mu, dtype=float)
    return np.stack([1.0 - mu ** (n / 2.0) for n in range(1, 5)], axis=1)


def fit_nonlinear_law(mu: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Least-squares c1..c4 (len, 4) of ``profile`` I(mu)/I(1) (len, len(mu)) on ``mu``."""
    a = nonlinear_basis(mu)
    y = 1.0 - np.atleast_2d(profile)
    coeffs, *_ = np.linalg.lstsq(a, y.T, rcond=None)
    return coeffs.T


def nonlinear_law(mu: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """I(mu)/I(1) of the non-linear law for coefficients (..., 4) -> (..., len(mu))."""
    return 1.0 - np.asarray(coeffs) @ nonlinear_basis(mu).T


def limb_darkening_nonlinear(wl_um: np.ndarray, teff_k: float) -> np.ndarray:
    """Non-linear law coefficients (len(wl), 4) of a grey atmosphere of ``teff_k`` at ``wl_um``."""
    wl = np.atleast_1d(np.asarray(wl_um, dtype=float))
    i_mu = grey_intensity(MU_GRID, wl, teff_k)
    i_1 = grey_intensity(np.array([1.0]), wl, teff_k)
    return fit_nonlinear_law(MU_GRID, i_mu / i_1)
