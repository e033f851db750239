"""Tests for the physics fit (:mod:`spectramind.physics.whitelight`, ``.spectral``,
``.products``) on synthetic cubes with a known answer.

``synthetic_cube`` builds the per-planet cube of ``calibration.pipeline.build_cube`` (same
variables, dims and units) from the fit's own model: an exact quadratic-limb-darkened
transit per bin (limb darkening from the law the fit uses as its prior), a chromatic
multiplicative drift ``1 + A p_t(t) p_w(lambda)`` of random 5th-order polynomials (the
simulator's gain drift, which the fit's Legendre drift basis of order <= 6 spans), additive jitter
terms on the cube's regressors, and white Gaussian noise of known sigma per time bin. The
transit window (ingress, egress, observed flags, S/N) comes from the pipeline's own
detector, as in ``build_cube``.

The fits are the expensive part (a few seconds each), so the exact-model fits are made
once per module and shared by the tests that read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spectramind import io
from spectramind.calibration import phase
from spectramind.calibration.products import write_netcdf
from spectramind.physics import common, population, products, spectral, whitelight
from spectramind.physics.limb_darkening import limb_darkening

WAVELENGTHS = io.read_wavelengths(
    Path(__file__).resolve().parents[1] / "resources" / "ariel" / "2025" / "wavelengths.csv"
)
N_BINS = len(WAVELENGTHS)
N_TIME = 225  # 2-minute bins over the 7.5 h visit (build_cube with time_bin_s = 120)
DURATION_H = 7.5
TIME_H = (np.arange(N_TIME) + 0.5) * DURATION_H / N_TIME
BIN_H = DURATION_H / N_TIME

# A real-looking star row (cf. resources/ariel/2025/train_star_info.csv): b = 9 cos(88.5 deg)
# = 0.24, T14 = 3.2 h, so ~97 of the 225 bins are in transit.
STAR = pd.Series(
    {"Rs": 1.05, "Ms": 1.02, "Ts": 5500.0, "Mp": 0.7, "e": 0.0, "P": 3.5, "sma": 9.0, "i": 88.5}
)
T0_H = 3.75
BASE_DEPTH = 0.01
FEATURE_PPM = 300.0
SIGMA_AIRS = 200e-6  # white noise per 2-minute bin, each AIRS wavelength bin
SIGMA_FGS = 50e-6  # white noise per 2-minute bin, FGS1
DRIFT_AMP = 1e-2  # amplitude of the chromatic gain drift (the challenge data: 0.004-0.015)
JITTER = 100e-6  # rms of each bin's additive jitter term per unit regressor

# Out-of-transit levels (counts per frame pair), as measured on the real data: FGS1 ~2.2e5,
# AIRS ~1.0e5 at wl_2 falling to ~5.3e3 at wl_283 (weights of the AIRS white light curve).
OOT_LEVEL = np.r_[2.2e5, np.geomspace(1.0e5, 5.3e3, N_BINS - 1)]


def feature_template(wl: np.ndarray = WAVELENGTHS) -> np.ndarray:
    """Unit-amplitude spectral feature: a Gaussian band at 2.7 um (width 0.15 um)."""
    return np.exp(-0.5 * ((wl - 2.7) / 0.15) ** 2)


TRUE_DEPTH = BASE_DEPTH + FEATURE_PPM * 1e-6 * (2 * feature_template() - 1)  # 0.01 +/- 300 ppm


def random_polynomial(rng: np.random.Generator, u: np.ndarray, degree: int = 5) -> np.ndarray:
    """Random Chebyshev series in ``u`` in [-1, 1] (no constant term) scaled to max |p| = 1."""
    p = np.polynomial.chebyshev.chebval(
        u, rng.normal(size=degree + 1) * np.r_[0.0, np.ones(degree)]
    )
    return p / np.abs(p).max()


@dataclass(frozen=True)
class Synthetic:
    cube: xr.Dataset
    depth: np.ndarray  # (283,) true (Rp/Rs)^2
    t0_h: np.ndarray  # (n_visits,) true mid-transit times
    star: pd.Series


def synthetic_cube(
    *,
    seed: int = 0,
    n_visits: int = 1,
    t0_h: float | tuple[float, ...] = T0_H,
    depth: np.ndarray = TRUE_DEPTH,
    star: pd.Series = STAR,
    sigma_airs: float = SIGMA_AIRS,
    sigma_fgs: float = SIGMA_FGS,
    drift_amp: float = DRIFT_AMP,
    jitter: float = JITTER,
    regressors: str = "random",
    transit: bool = True,
) -> Synthetic:
    """A cube like ``build_cube``'s with flux = c_j T_j(t) (1 + A p_t(t) p_w(lambda_j))
    + jitter_j x(t) + noise (see the module docstring).

    ``regressors``: "random" (iid N(0, 1) series) or "zero" (all zero; no jitter term).
    ``transit=False`` gives a star without a planet (pure noise and drift).
    """
    rng = np.random.default_rng(seed)
    t0 = np.broadcast_to(np.asarray(t0_h, dtype=float), (n_visits,)).copy()
    u1, u2 = limb_darkening(WAVELENGTHS, float(star["Ts"]))
    sig = np.r_[sigma_fgs, np.full(N_BINS - 1, sigma_airs)]
    names = (
        "fgs_centroid_y",
        "fgs_centroid_x",
        "airs_trace_y",
        "airs_trace_width",
        "airs_background",
        "fgs_background",
    )
    regs = {n: np.zeros((n_visits, N_TIME)) for n in names}
    flux = np.empty((n_visits, N_TIME, N_BINS))
    windows = []
    wl_u = 2 * (WAVELENGTHS - WAVELENGTHS.min()) / np.ptp(WAVELENGTHS) - 1
    for v in range(n_visits):
        tr = np.ones((N_TIME, N_BINS))
        if transit:
            tr = common.transit(
                TIME_H,
                t0_h=t0[v],
                period_d=float(star["P"]),
                a_rs=float(star["sma"]),
                inc_deg=float(star["i"]),
                k=np.sqrt(depth),
                u1=u1,
                u2=u2,
            ).T
        gain = 1.0 + drift_amp * random_polynomial(rng, TIME_H / 3.75 - 1)[
            :, None
        ] * random_polynomial(rng, wl_u)
        c = 1.0 + 1e-3 * rng.normal(size=N_BINS)  # normalisation off by ~0.1 % per bin
        model = c * tr * gain
        if regressors == "random":
            for n in names:
                regs[n][v] = rng.normal(size=N_TIME)
            # FGS1 moves with its centroid, AIRS with its trace (both standardised regressors)
            model[:, 0] += (
                jitter
                * rng.normal()
                * (regs["fgs_centroid_y"][v] - regs["fgs_centroid_y"][v].mean())
            )
            x = regs["airs_trace_y"][v] - regs["airs_trace_y"][v].mean()
            model[:, 1:] += jitter * rng.normal(size=N_BINS - 1) * x[:, None]
        flux[v] = model + sig * rng.normal(size=(N_TIME, N_BINS))
        # the window as build_cube finds it: matched filter on the mean normalised flux
        k_mean = float(np.sqrt(np.mean(depth)))
        t14, t23 = phase.transit_durations(
            float(star["P"]), float(star["sma"]), float(star["i"]), k_mean
        )
        white = np.nanmean(flux[v] / np.nanmedian(flux[v], axis=0), axis=1)
        windows.append(phase.detect_transit(TIME_H, white, t14_h=t14, t23_h=t23, baseline_degree=5))
    var = np.broadcast_to(sig**2, flux.shape).copy()
    dims = ("visit", "time", "wavelength")
    cube = xr.Dataset(
        {
            "flux": (dims, flux, {"units": "1"}),
            "variance": (dims, var, {"units": "1"}),
            "quality": (dims, np.zeros(flux.shape, np.uint8)),
            "oot_level": (("visit", "wavelength"), np.tile(OOT_LEVEL, (n_visits, 1))),
            **{n: (("visit", "time"), r) for n, r in regs.items()},
            "ingress": (("visit",), [w.ingress_h for w in windows], {"units": "h"}),
            "egress": (("visit",), [w.egress_h for w in windows], {"units": "h"}),
            "ingress_observed": (
                ("visit",),
                np.array([w.ingress_observed for w in windows], np.uint8),
            ),
            "egress_observed": (
                ("visit",),
                np.array([w.egress_observed for w in windows], np.uint8),
            ),
            "transit_snr": (("visit",), [w.snr for w in windows]),
        },
        coords={
            "visit": np.arange(n_visits),
            "time": ("time", TIME_H, {"units": "h"}),
            "wavelength": ("wavelength", WAVELENGTHS, {"units": "um"}),
        },
        attrs={"planet_id": 1234},
    )
    return Synthetic(cube, np.asarray(depth, dtype=float), t0, star)


def unit_depth_floor(
    star: pd.Series = STAR, t0_h: float = T0_H, sigma: float = SIGMA_AIRS
) -> np.ndarray:
    """The smallest possible depth sigma per bin (283,): white noise only, a constant
    baseline, everything else known: sigma / sqrt(sum (s - mean s)^2), s the unit-depth shape."""
    u1, u2 = limb_darkening(WAVELENGTHS, float(star["Ts"]))
    k = np.sqrt(TRUE_DEPTH)
    tr = common.transit(
        TIME_H,
        t0_h=t0_h,
        period_d=float(star["P"]),
        a_rs=float(star["sma"]),
        inc_deg=float(star["i"]),
        k=k,
        u1=u1,
        u2=u2,
    )
    s = (1 - tr) / k[:, None] ** 2
    return np.r_[SIGMA_FGS, np.full(N_BINS - 1, sigma)] / np.sqrt(
        ((s - s.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    )


@pytest.fixture
def make_cube():
    """Factory fixture: ``make_cube(seed=..., t0_h=..., transit=..., ...)`` -> Synthetic."""
    return synthetic_cube


CFG = common.FitConfig()
# the prior these tests' world was made from (a/Rs and i on the star row, limb darkening on
# the law): what the population learned on train would be; widths as a real population's
PRIOR = population.FitPrior(
    mean=dict.fromkeys(population.PRIOR_KEYS, 0.0),
    sd={
        "ln_sma_ratio": 0.03,
        "d_inc_deg": 0.3,
        "airs_dt_h": 0.01,
        **{k: 0.1 for k in population.PRIOR_KEYS if k.startswith("ld_")},
    },
    source="train",
    fallback_mu=np.linspace(0.010, 0.012, N_BINS),
    fallback_sigma=np.linspace(0.004, 0.005, N_BINS),
)
COVERAGE_SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def exact_fits() -> list[tuple[Synthetic, products.PlanetFit]]:
    """fit_planet on exact-model cubes of several noise/drift seeds (shared: ~4 s a fit)."""
    out = []
    for seed in COVERAGE_SEEDS:
        syn = synthetic_cube(seed=seed)
        out.append((syn, products.fit_planet(syn.cube, syn.star, CFG, PRIOR)))
    return out


# --------------------------------------------------------------------------- small pieces
def test_fit_config_from_dict_rejects_unknown_keys():
    assert common.FitConfig.from_dict({"min_snr": 3.0}).min_snr == 3.0
    with pytest.raises(ValueError, match="unknown physics config keys"):
        common.FitConfig.from_dict({"min_snr": 3.0, "min_snnr": 3.0})


def test_legendre_basis_is_p0_to_pn_of_the_time_scaled_to_the_visit():
    b = whitelight.legendre_basis(np.array([0.0, 3.75, 7.5]), 3)
    np.testing.assert_allclose(b, [[1, -1, 1, -1], [1, 0, -0.5, 0], [1, 1, 1, 1]], atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (30, 3), elements=st.floats(-1e6, 1e6)))
def test_standardise_gives_zero_mean_unit_std_or_zero(x):
    z = common.standardise(x)
    assert z.shape == x.shape and np.all(np.isfinite(z))
    for j in range(x.shape[1]):
        if np.std(x[:, j]) > 1e-6 * max(np.abs(x[:, j]).max(), 1.0):  # numerically non-constant
            assert abs(z[:, j].mean()) < 1e-9
            assert z[:, j].std() == pytest.approx(1.0, rel=1e-9)


def test_standardise_nan_and_constant_columns_become_zero():
    x = np.array([[1.0, 5.0], [np.nan, 5.0], [3.0, 5.0]])
    np.testing.assert_array_equal(common.standardise(x), [[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])


def test_weighted_lstsq_exact_coefficients_and_covariance():
    rng = np.random.default_rng(1)
    design = np.column_stack([np.ones(50), np.linspace(-1, 1, 50)])
    var = rng.uniform(0.5, 2.0, 50)
    coef, cov, chi2 = common.weighted_lstsq(design, design @ [2.0, -3.0], var)
    np.testing.assert_allclose(coef, [2.0, -3.0], rtol=1e-12)
    np.testing.assert_allclose(cov, np.linalg.inv(design.T @ (design / var[:, None])), rtol=1e-10)
    assert chi2 < 1e-20


def test_weighted_lstsq_reduced_chi2_of_correct_variances_is_one():
    rng = np.random.default_rng(2)
    n = 20000
    design = np.column_stack([np.ones(n), rng.normal(size=n)])
    var = rng.uniform(0.1, 3.0, n)
    _, _, chi2 = common.weighted_lstsq(
        design, design @ [1.0, 0.5] + rng.normal(size=n) * np.sqrt(var), var
    )
    assert chi2 == pytest.approx(1.0, abs=5 * np.sqrt(2 / n))  # chi2_red has sd sqrt(2 / dof)


def test_transit_scalar_and_batched_agree_and_uniform_disc_depth_is_k_squared():
    k = np.array([0.05, 0.1])
    batch = common.transit(
        TIME_H, t0_h=T0_H, period_d=3.5, a_rs=9.0, inc_deg=88.5, k=k, u1=0.0, u2=0.0
    )
    assert batch.shape == (2, N_TIME)
    single = common.transit(
        TIME_H, t0_h=T0_H, period_d=3.5, a_rs=9.0, inc_deg=88.5, k=0.1, u1=0.0, u2=0.0
    )
    assert single.shape == (N_TIME,)
    np.testing.assert_array_equal(batch[1], single)
    # no limb darkening and the planet fully inside the disc (b = 0.24 < 1 - k): flux 1 - k^2
    mid = np.abs(TIME_H - T0_H) < 0.5
    np.testing.assert_allclose(
        batch[:, mid], np.broadcast_to(1 - k[:, None] ** 2, (2, mid.sum())), rtol=0, atol=1e-14
    )
    np.testing.assert_array_equal(batch[:, np.abs(TIME_H - T0_H) > 2.0], 1.0)


def test_white_light_is_the_oot_level_weighted_mean_of_finite_airs_bins():
    flux = np.full((1, 2, 4), np.nan)
    flux[0, 0] = [0.5, 1.0, 2.0, 4.0]
    flux[0, 1] = [0.6, np.nan, 2.0, 4.0]
    var = np.ones_like(flux)
    cube = xr.Dataset(
        {
            "flux": (("visit", "time", "wavelength"), flux),
            "variance": (("visit", "time", "wavelength"), var),
            "oot_level": (("visit", "wavelength"), [[9.0, 1.0, 1.0, 2.0]]),
        }
    )
    curves = common.white_light(cube)
    np.testing.assert_array_equal(curves["FGS1"][0], [[0.5, 0.6]])
    # weights 1, 1, 2 -> (1 + 2 + 8) / 4; the NaN bin drops out: (2 + 8) / 3
    np.testing.assert_allclose(curves["AIRS-CH0"][0], [[11 / 4, 10 / 3]], rtol=1e-15)
    np.testing.assert_allclose(
        curves["AIRS-CH0"][1], [[6 / 16, 5 / 9]], rtol=1e-15
    )  # sum w^2 var / (sum w)^2


def _linear_problem(seed: int, nb: int = 6, noise: float = 0.0):
    """y_j = c_j (1 - D_j s_j) + c_j g_j f + beta_j x with known everything."""
    rng = np.random.default_rng(seed)
    tr = common.transit(
        TIME_H, t0_h=T0_H, period_d=3.5, a_rs=9.0, inc_deg=88.5, k=np.full(nb, 0.1), u1=0.3, u2=0.2
    )
    shape = ((1 - tr) / 0.01).T
    basis = whitelight.legendre_basis(TIME_H, 5)
    f = basis @ rng.normal(size=6)
    f /= np.sqrt(np.mean(f**2))
    regs = rng.normal(size=(N_TIME, 2))
    c, d, g = (
        1 + 0.01 * rng.normal(size=nb),
        0.01 + 0.001 * rng.normal(size=nb),
        0.01 * rng.normal(size=nb),
    )
    beta = 1e-4 * rng.normal(size=(2, nb))
    y = (
        c * (1 - d * shape)
        + c * g * f[:, None]
        + regs @ beta
        + noise * rng.normal(size=(N_TIME, nb))
    )
    var = np.full_like(y, max(noise, 1e-4) ** 2)
    return y, var, shape, basis, f, regs, (c, d, g, beta)


def test_fit_bins_recovers_noiseless_parameters_and_marks_short_bins_nan():
    y, var, shape, _, f, regs, (c, d, g, beta) = _linear_problem(3)
    y[:100, 2] = np.nan  # bin 2 keeps 125 samples (>= 10, in and out of transit): still fitted
    y[9:, 4] = np.nan  # bin 4 keeps 9 samples: NaN
    c_f, d_f, vd, g_f, chi2, beta_f = spectral.fit_bins(y, var, shape, f, regs)
    keep = np.array([0, 1, 2, 3, 5])
    np.testing.assert_allclose(c_f[keep], c[keep], rtol=1e-9)
    np.testing.assert_allclose(d_f[keep], d[keep], rtol=1e-7)
    np.testing.assert_allclose(g_f[keep], g[keep], rtol=1e-6)
    np.testing.assert_allclose(beta_f[:, keep], beta[:, keep], rtol=1e-6, atol=1e-12)
    assert np.all(vd[keep] >= 0) and np.all(chi2[keep] < 1e-12)
    assert all(np.isnan(a[4]) for a in (c_f, d_f, vd, g_f, chi2))


def test_fit_bins_variance_matches_scatter_of_noisy_fits():
    """var(D) of the batched solve is the sampling variance: 400 independent noisy bins."""
    y, var, shape, _, f, regs, (_, d, _, _) = _linear_problem(4, nb=400, noise=2e-4)
    _, d_f, vd, *_ = spectral.fit_bins(y, var, shape, f, regs)
    z = (d_f - d) / np.sqrt(vd)
    assert np.std(z) == pytest.approx(1.0, abs=0.15)  # the sd of the sd of 400 z is 0.035


def test_drift_step_recovers_the_drift_given_every_bin_parameter():
    y, var, shape, basis, f, regs, (c, d, g, beta) = _linear_problem(5)
    np.testing.assert_allclose(
        spectral.drift_step(y, var, shape, (c, d, c * g, beta), regs, basis), f, atol=1e-9
    )


def test_chromatic_drift_finds_the_common_time_shape():
    rng = np.random.default_rng(6)
    basis = whitelight.legendre_basis(TIME_H, 5)
    f = basis @ rng.normal(size=6)
    g = rng.normal(size=50)
    resid = (
        1e-3 * f[:, None] * g + 1e-6 * rng.normal(size=(N_TIME, 50)) + rng.normal(size=50)
    )  # + per-bin offsets
    est = spectral.chromatic_drift(resid, np.ones_like(resid), basis)
    assert np.sqrt(np.mean(est**2)) == pytest.approx(1.0)
    f_c = f - f.mean()
    corr = abs(np.corrcoef(est, f_c)[0, 1])
    assert corr > 0.9999


def test_joint_drift_fit_is_exact_on_noiseless_data_and_widens_the_per_bin_variance():
    """As fit_spectrum calls it: the current drift among each bin's columns, gains c_j g_j,
    the shared correction B a. Exact data: a = 0 (the min-norm solution) and D exact."""
    y, var, shape, basis, f, regs, (c, d, g, beta) = _linear_problem(7, nb=40)
    _, d_j, _, _, correction = spectral.joint_drift_fit(
        y, var, shape, c * g, basis, np.column_stack([f, regs])
    )
    np.testing.assert_allclose(d_j, d, rtol=1e-8)
    np.testing.assert_allclose(correction, 0.0, atol=1e-9)
    # with noise: sharing (and fitting) the drift only adds variance to the known-drift fit
    y, var, shape, basis, f, regs, (c, d, g, beta) = _linear_problem(7, nb=40, noise=2e-4)
    _, _, vd_joint, _, _ = spectral.joint_drift_fit(
        y, var, shape, c * g, basis, np.column_stack([f, regs])
    )
    _, _, vd_known, *_ = spectral.fit_bins(y, var, shape, f, regs)
    ratio = vd_joint / vd_known
    assert np.all(ratio > 0.99) and np.median(ratio) > 1.0  # the chi2 scalings differ by < 1 %


# --------------------------------------------------------------------------- the factory
def test_synthetic_cube_has_the_build_cube_layout_and_the_right_window(make_cube):
    syn = make_cube(seed=0)
    cube = syn.cube
    assert dict(cube.sizes) == {"visit": 1, "time": N_TIME, "wavelength": N_BINS}
    for name in (
        "flux",
        "variance",
        "quality",
        "oot_level",
        "fgs_centroid_y",
        "fgs_centroid_x",
        "airs_trace_y",
        "airs_trace_width",
        "airs_background",
        "fgs_background",
        "ingress",
        "egress",
        "ingress_observed",
        "egress_observed",
        "transit_snr",
    ):
        assert name in cube
    t14, _ = phase.transit_durations(3.5, 9.0, 88.5, 0.1)
    assert float(cube["ingress"][0]) == pytest.approx(T0_H - t14 / 2, abs=2 * BIN_H)
    assert float(cube["egress"][0]) == pytest.approx(T0_H + t14 / 2, abs=2 * BIN_H)
    assert cube["ingress_observed"].values.all() and cube["egress_observed"].values.all()
    assert float(cube["transit_snr"][0]) > 20
    # the noise is the stated white noise: the same seed without noise gives the exact model
    noise = (
        syn.cube["flux"].values
        - make_cube(seed=0, sigma_airs=0.0, sigma_fgs=0.0).cube["flux"].values
    )
    assert np.std(noise[0, :, 1:]) == pytest.approx(SIGMA_AIRS, rel=0.02)  # sd of the sd: 0.3 %
    assert np.std(noise[0, :, 0]) == pytest.approx(SIGMA_FGS, rel=0.25)  # 225 values: sd 4.7 %
    np.testing.assert_array_equal(
        syn.cube["variance"].values[0, 0], np.r_[SIGMA_FGS, np.full(N_BINS - 1, SIGMA_AIRS)] ** 2
    )


# --------------------------------------------------------------------------- fit_planet
# Per-bin tolerance: every depth within DEPTH_Z_MAX of its own sigma. Over 4 x 283 bins a
# correct Gaussian sigma exceeds 5 sd with probability ~7e-4 (and the coverage test below
# checks the sigma is not inflated to make this easy).
DEPTH_Z_MAX = 5.0
# The fit's sigma can be no smaller than the white-noise floor (drift, jitter, geometry
# all add to it) and, measured on these cubes, the drift/transit degeneracy costs a factor
# 1.3-2.6 on the median bin; allow 4x before calling the fit inefficient.
SIGMA_FLOOR_FRACTION = 0.8  # sqrt(chi2_red) scales each sigma: sd 1 / sqrt(2 dof) = 0.05, 4 sd
SIGMA_INFLATION_MAX = 4.0
# Median |z| of a N(0, 1) variable is 0.674; pooled over 4 x 283 bins its sampling sd is
# ~0.02 plus the common-mode (white-light) error shared by the bins of one planet. Measured
# on the exact-model cubes: 0.69-0.73 pooled, 0.65-0.80 per planet. The band is sigma
# right to within -20 %/+25 % (0.54-0.84).
MEDIAN_ABS_Z_BAND = (0.54, 0.84)
COVERAGE_1SIGMA_BAND = (0.55, 0.80)  # N(0, 1): 0.683; the same -20/+25 % in sigma


def test_fit_planet_recovers_every_bin_depth_within_its_sigma(exact_fits):
    floor = unit_depth_floor()
    for syn, res in exact_fits:
        assert res.flag == "ok"
        assert res.depth.shape == res.sigma.shape == res.chi2_red.shape == (N_BINS,)
        z = (res.depth - syn.depth) / res.sigma
        assert np.abs(z).max() < DEPTH_Z_MAX, (np.abs(z).max(), np.argmax(np.abs(z)))
        assert np.all(res.sigma >= SIGMA_FLOOR_FRACTION * floor)
        assert np.median(res.sigma[1:] / floor[1:]) < SIGMA_INFLATION_MAX
        # exact model, correct variances: reduced chi^2 ~ 1 (sd sqrt(2 / ~210) = 0.1 per bin)
        assert np.median(res.chi2_red) == pytest.approx(1.0, abs=0.05)


# The 300 ppm band, projected out by weighted least squares on [1, template], in units of
# its true amplitude. The depth errors of one planet are correlated across bins through
# the shared drift (an error in f(t) moves bin j by ~ g_j, a smooth function of lambda), so
# the independent-bin formal sd of the projection (0.01-0.02) understates its error:
# measured over 12 seeds, 0.90-1.03. Tolerance: the feature within 15 %.
FEATURE_TOL = 0.15


def test_fit_planet_recovers_the_spectral_feature(exact_fits):
    design = np.column_stack([np.ones(N_BINS - 1), 2 * FEATURE_PPM * 1e-6 * feature_template()[1:]])
    for _, res in exact_fits:
        coef, _, _ = common.weighted_lstsq(design, res.depth[1:], res.sigma[1:] ** 2)
        assert coef[1] == pytest.approx(1.0, abs=FEATURE_TOL)
        assert coef[0] == pytest.approx(BASE_DEPTH - FEATURE_PPM * 1e-6, abs=50e-6)


def test_fit_planet_sigma_is_calibrated_on_exact_model_data(exact_fits):
    z = np.concatenate([(res.depth - syn.depth) / res.sigma for syn, res in exact_fits])
    lo, hi = MEDIAN_ABS_Z_BAND
    assert lo < np.median(np.abs(z)) < hi
    lo, hi = COVERAGE_1SIGMA_BAND
    assert lo < np.mean(np.abs(z) < 1) < hi
    for syn, res in exact_fits:  # no single planet badly off either
        assert 0.45 < np.median(np.abs((res.depth - syn.depth) / res.sigma)) < 1.0


# White-light geometry: t0 is pinned by ingress/egress to a small fraction of a bin; a/Rs and
# i have Gaussian priors centred on the truth here (PRIOR: 3 % in a/Rs, 0.3 deg in i),
# and the data only narrow them, so the estimates must sit within one prior sd.
T0_TOL_H = BIN_H


def test_white_light_geometry(exact_fits):
    for syn, res in exact_fits:
        w = res.white
        assert w is not None and w.success
        assert abs(w.t0_h[0] - syn.t0_h[0]) < T0_TOL_H
        assert abs(np.log(w.a_rs / STAR["sma"])) < PRIOR.sd["ln_sma_ratio"]
        assert abs(w.inc_deg - STAR["i"]) < PRIOR.sd["d_inc_deg"]
        # the white-light depths: FGS1 = wl_1, AIRS ~ the flux-weighted mean depth
        assert w.k["FGS1"] ** 2 == pytest.approx(
            syn.depth[0], abs=5 * 2 * w.k["FGS1"] * w.k_err["FGS1"]
        )
        airs_mean = np.average(syn.depth[1:], weights=OOT_LEVEL[1:])
        assert w.k["AIRS-CH0"] ** 2 == pytest.approx(airs_mean, rel=0.01)  # measured: < 0.2 %
        assert w.drift["FGS1"].shape == w.model["AIRS-CH0"].shape == (1, N_TIME)


def test_partial_transit_is_flagged_with_wider_sigma(make_cube):
    syn = make_cube(seed=0, t0_h=6.6)  # egress at 8.2 h, after the 7.5 h visit
    cube = syn.cube
    assert cube["ingress_observed"].values.all() and not cube["egress_observed"].values.any()
    res = products.fit_planet(cube, syn.star, CFG, PRIOR)
    assert res.flag == "partial"
    assert abs(res.white.t0_h[0] - 6.6) < T0_TOL_H
    assert np.all(np.isfinite(res.depth)) and np.all(np.isfinite(res.sigma))
    # widened: partial_sigma_scale x the spectral fit's own sigma (same geometry)
    depth, sigma, _ = spectral.fit_spectrum(cube, syn.star, res.white, CFG)
    np.testing.assert_allclose(res.depth, depth, rtol=1e-12)
    np.testing.assert_allclose(res.sigma, CFG.partial_sigma_scale * sigma, rtol=1e-12)
    # half the transit still measures every depth (unwidened sigma covers the error)
    assert np.abs((depth - syn.depth) / sigma).max() < DEPTH_Z_MAX
    assert np.all(sigma >= SIGMA_FLOOR_FRACTION * unit_depth_floor(t0_h=6.6))


def test_all_nan_cube_fails_with_the_fallback_values(make_cube):
    syn = make_cube(seed=1)
    cube = syn.cube.copy(deep=True)
    cube["flux"][:] = np.nan
    cube["variance"][:] = np.nan
    res = products.fit_planet(cube, syn.star, CFG, PRIOR)
    assert res.flag == "failed"
    np.testing.assert_array_equal(res.depth, PRIOR.fallback_mu)
    np.testing.assert_array_equal(res.sigma, PRIOR.fallback_sigma)
    assert np.all(np.isnan(res.chi2_red))


def test_cube_without_a_transit_is_flagged_not_raised(make_cube):
    """No planet: the detector's S/N is below min_snr; the fit is flagged low_snr (or, when
    the white-light optimiser gives up, failed) with finite, non-negative values."""
    syn = make_cube(seed=5, transit=False, depth=np.zeros(N_BINS))
    assert float(syn.cube["transit_snr"][0]) < CFG.min_snr  # the detector finds nothing
    res = products.fit_planet(syn.cube, syn.star, CFG, PRIOR)
    assert res.flag in ("failed", "low_snr")
    assert (
        np.all(np.isfinite(res.depth)) and np.all(np.isfinite(res.sigma)) and np.all(res.sigma > 0)
    )
    assert np.all(res.depth >= 0)  # a submission refuses negative depths
    if res.flag == "failed":
        np.testing.assert_array_equal(res.depth, PRIOR.fallback_mu)
        np.testing.assert_array_equal(res.sigma, PRIOR.fallback_sigma)
    else:  # widened to at least half the depth; the truth (no planet) well inside it
        assert np.all(res.sigma >= 0.5 * res.depth)
        assert np.abs(res.depth / res.sigma).max() < DEPTH_Z_MAX


def test_fit_dataset_round_trips_through_netcdf(exact_fits, tmp_path):
    syn, res = exact_fits[0]
    ds = products.fit_dataset(1234, syn.cube, res)
    path = tmp_path / "physics" / "1234.nc"
    write_netcdf(ds, path)
    with xr.open_dataset(path) as back:
        back = back.load()
    assert back.attrs["planet_id"] == 1234 and back.attrs["flag"] == "ok"
    np.testing.assert_array_equal(back["depth"].values, res.depth)
    np.testing.assert_array_equal(back["depth_sigma"].values, res.sigma)
    np.testing.assert_array_equal(back["chi2_red"].values, res.chi2_red)
    np.testing.assert_array_equal(back["t0"].values, res.white.t0_h)
    np.testing.assert_array_equal(back["wavelength"].values, WAVELENGTHS)
    assert back.attrs["a_rs"] == res.white.a_rs and back.attrs["k_airs"] == res.white.k["AIRS-CH0"]
    assert back["white_airs_model"].dims == ("visit", "time")
    xr.testing.assert_identical(back, ds)


def test_fit_dataset_carries_the_cube_provenance_and_its_own(exact_fits):
    from spectramind import provenance

    syn, res = exact_fits[0]
    cube = syn.cube.copy()
    ref = provenance.RefFile("train/1/AIRS-CH0_calibration_0/dark.parquet", "ab" * 32)
    cube.attrs.update(
        provenance.attributes(
            section="calibration",
            section_config={"time_bin_s": 120.0},
            stages=[{"adc": "COMPLETE", "phase": "COMPLETE"}, {"adc": "SKIPPED"}],
            reference_files=[ref],
        )
    )
    whole = {"physics": {"min_snr": 5.0}, "calibration": {"time_bin_s": 120.0}}
    attrs = products.fit_dataset(1234, cube, res, CFG, config=whole).attrs
    stages = provenance.stages_from_attrs(attrs)
    assert stages == ({"adc": "COMPLETE", "phase": "COMPLETE", "fit": "COMPLETE"},
                      {"adc": "SKIPPED", "fit": "COMPLETE"})  # fmt: skip
    assert provenance.reference_files_from_attrs(attrs) == (ref,)
    assert attrs["calibration_config_sha256"] == cube.attrs["calibration_config_sha256"]
    assert attrs["physics_config_sha256"] == provenance.section_sha256(CFG)
    assert attrs["physics_config_sha256"] != attrs["calibration_config_sha256"]
    assert attrs["config_sha256"] != attrs["physics_config_sha256"]
    assert attrs["software"].startswith("spectramind ")
    assert "stages" not in products.fit_dataset(1234, syn.cube, res).attrs  # no cfg: none


def test_fit_dataset_of_a_failed_fit_round_trips(tmp_path):
    fit = products.PlanetFit(
        np.full(N_BINS, 0.0147), np.full(N_BINS, 0.011), np.full(N_BINS, np.nan), "failed", None
    )
    cube = synthetic_cube(seed=0).cube
    ds = products.fit_dataset(7, cube, fit)
    write_netcdf(ds, tmp_path / "7.nc")
    with xr.open_dataset(tmp_path / "7.nc") as back:
        assert back.attrs["flag"] == "failed" and "t0" not in back
        np.testing.assert_array_equal(back["depth"].values, fit.depth)


def test_two_visits_are_combined_by_inverse_variance(make_cube):
    """Two visits (own drifts and t0) shrink sigma ~ 1/sqrt(2) vs one; errors stay covered."""
    syn = make_cube(seed=5, n_visits=2, t0_h=(3.6, 3.9))
    res = products.fit_planet(syn.cube, syn.star, CFG, PRIOR)
    assert res.flag == "ok"
    np.testing.assert_allclose(res.white.t0_h, syn.t0_h, atol=T0_TOL_H)
    assert np.abs((res.depth - syn.depth) / res.sigma).max() < DEPTH_Z_MAX
    floor = unit_depth_floor() / np.sqrt(2)
    assert np.all(res.sigma >= SIGMA_FLOOR_FRACTION * floor)
    assert np.median(res.sigma[1:] / floor[1:]) < SIGMA_INFLATION_MAX


def test_one_dead_bin_keeps_the_planet_and_widens_only_that_bin(make_cube):
    """A wavelength bin with no valid data (e.g. a dead detector column) must not fail the
    whole planet: it takes its neighbours' depth and the fallback sigma; the others fit."""
    syn = make_cube(seed=2)
    cube = syn.cube.copy(deep=True)
    dead = 150
    cube["flux"][:, :, dead] = np.nan
    cube["variance"][:, :, dead] = np.nan
    res = products.fit_planet(cube, syn.star, CFG, PRIOR)
    assert res.flag == "ok"
    assert res.sigma[dead] == PRIOR.fallback_sigma[dead]
    assert (
        min(res.depth[dead - 1], res.depth[dead + 1])
        <= res.depth[dead]
        <= max(res.depth[dead - 1], res.depth[dead + 1])
    )
    others = np.arange(N_BINS) != dead
    assert np.abs((res.depth - syn.depth) / res.sigma)[others].max() < DEPTH_Z_MAX


# --------------------------------------------------------------------------- failure reasons
@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("i", 92.43, "star parameters out of range: i 92.43 (must be in (0, 90])"),
        ("sma", 0.5, "star parameters out of range: sma 0.5 (must be > 1)"),
        ("Ts", 0.0, "star parameters out of range: Ts 0 (must be > 0)"),
    ],
)
def test_out_of_range_geometry_fails_with_its_reason_never_ok(make_cube, key, value, reason):
    """A star row that bypassed the reader's checks is never fitted, never flagged ok; the
    reason travels into the physics product's attrs."""
    syn = make_cube(seed=1)
    star = syn.star.copy()
    star[key] = value
    res = products.fit_planet(syn.cube, star, CFG, PRIOR)
    assert (res.flag, res.reason) == ("failed", reason)
    np.testing.assert_array_equal(res.depth, PRIOR.fallback_mu)
    ds = products.fit_dataset(7, syn.cube, res)
    assert ds.attrs["flag"] == "failed" and ds.attrs["failure_reason"] == reason


def test_a_fit_that_raises_records_the_exception(make_cube):
    syn = make_cube(seed=1)
    cube = syn.cube.copy(deep=True)
    cube["flux"][:] = np.nan
    res = products.fit_planet(cube, syn.star, CFG, PRIOR)
    assert res.flag == "failed"
    assert res.reason == "the fit raised ValueError: no finite white-light flux"


def test_a_good_fit_has_no_failure_reason(exact_fits):
    for _, res in exact_fits:
        assert res.flag == "ok" and res.reason == ""
        assert "failure_reason" not in products.fit_dataset(1, exact_fits[0][0].cube, res).attrs


# --------------------------------------------------------------------------- learned priors
def test_the_data_only_measurement_does_not_depend_on_the_prior(make_cube):
    """What a fit reports for the population (the prior divided out of the posterior) is the
    same under a broad and a twice narrower prior, and the measurement covers the truth
    (a/Rs and i on the star row, limb darkening on the law in this world)."""
    syn = make_cube(seed=3)
    got = []
    for width in (1.0, 0.5):
        prior = population.broad_prior(0.2 * width, 2.0 * width, 0.3 * width, 0.05 * width)
        w = products.fit_planet(syn.cube, syn.star, CFG, prior).white
        assert w is not None and w.measurements
        got.append(w.measurements)
    for k in ("ln_sma_ratio", "d_inc_deg", "ld_fgs1_u1", "ld_airs_u1"):
        (v1, s1), (v2, s2) = got[0][k], got[1][k]
        assert abs(v1 - v2) < 0.3 * s1, k
        assert s2 == pytest.approx(s1, rel=0.3), k
        assert abs(v1) < 4 * s1, k  # the truth is 0


def test_a_fit_under_the_broad_prior_fails_to_nan_and_the_product_records_its_prior(make_cube):
    syn = make_cube(seed=1)
    cube = syn.cube.copy(deep=True)
    cube["flux"][:] = np.nan
    res = products.fit_planet(cube, syn.star, CFG)  # no prior: the broad one, no labels known
    assert res.flag == "failed" and np.isnan(res.depth).all() and np.isnan(res.sigma).all()
    ok = products.fit_planet(syn.cube, syn.star, CFG, PRIOR)
    attrs = products.fit_dataset(3, syn.cube, ok, prior=PRIOR).attrs
    assert attrs["prior_source"] == "train" and attrs["prior_d_inc_deg_sd"] == 0.3
    measured = products.prior_measurements(products.fit_dataset(3, syn.cube, ok))
    assert set(measured) <= set(population.PRIOR_KEYS) and "ln_sma_ratio" in measured
    assert products.prior_measurements(products.fit_dataset(3, cube, res)) == {}  # failed
    with pytest.raises(ValueError, match="fallback spectrum has 283 bins, the cube 5"):
        products.fallback_of(PRIOR, 5)


def test_an_airs_clock_offset_is_fitted_per_visit(make_cube):
    """AIRS sample times shifted by +0.03 h against FGS1 (the flux unchanged: AIRS's clock
    reads 0.03 h late, so on it the transit is at t0 + 0.03 h): the white-light fit finds
    dt = +0.03 h in each visit and the FGS1 t0 does not move; the depths stay covered."""
    syn = make_cube(seed=5, n_visits=2, t0_h=(3.6, 3.9))
    cube = syn.cube.copy(deep=True)
    centres = np.broadcast_to(cube["time"].values, cube["flux"].shape[:2])
    shift = np.array([0.03, 0.03])[:, None]
    cube["time_airs"] = (("visit", "time"), centres + shift)
    res = products.fit_planet(cube, syn.star, CFG, CFG.broad_prior())
    assert res.flag == "ok"
    np.testing.assert_allclose(res.white.airs_dt_h, shift[:, 0], atol=0.3 * BIN_H)
    np.testing.assert_allclose(res.white.t0_h, syn.t0_h, atol=T0_TOL_H)
    assert np.abs((res.depth - syn.depth) / res.sigma).max() < DEPTH_Z_MAX
    ds = products.fit_dataset(9, cube, res)
    np.testing.assert_array_equal(ds["airs_dt"].values, res.white.airs_dt_h)
