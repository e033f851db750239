"""The simulated world's own physics: limb darkening, transit engine, spectra, deviations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectramind import io, sim
from spectramind.sim import detector, limb, scene, spectra

ARIEL = Path(__file__).resolve().parents[1] / "resources" / "ariel"

# Eddington's grey atmosphere has the exact bolometric law I(mu)/I(1) = (2/3 + mu) / (5/3);
# the wavelength integral on a 4000-point log grid (0.05-500 um) is good to ~1e-4.
BOLOMETRIC_TOL = 1e-3
# the 4-parameter law fits the grey monochromatic profile to a few 1e-3 (observed < 2e-3)
LAW_FIT_TOL = 5e-3
# small-planet mid-transit depth k^2 I(1) / <I>: batman's 1 ppm error and the finite k
# (the planet covers a range of mu, ~k^2 relative curvature) leave < 0.5 % at k = 0.02
DEPTH_RTOL = 5e-3
# a test spectrum counts as "a rescaled train one" above this correlation of their features
RESCALED_CORR = 0.99
# within a split two planets may share a real shape family; their parametric parts differ,
# but two cloud-muted atmospheres look alike: no near-exact repeat (observed max 0.996)
REPEAT_CORR = 0.999
N_DRAWS = 2000
# sample std of N_DRAWS normal draws: relative standard error 1/sqrt(2 N) = 1.6 %; allow ~5 SE
STD_RTOL = 0.08


@pytest.fixture(scope="module")
def star() -> pd.Series:
    return io.read_star_info(ARIEL / "2025" / "test_star_info.csv").iloc[0]


# --------------------------------------------------------------------------- limb darkening
def test_grey_atmosphere_bolometric_profile_is_eddington():
    wl = np.geomspace(0.05, 500.0, 4000)
    mu = np.array([0.05, 0.2, 0.5, 0.8, 1.0])
    i_lam = limb.grey_intensity(mu, wl, 5000.0)  # (wl, mu)
    bol = np.trapezoid(i_lam, wl, axis=0)
    np.testing.assert_allclose(bol / bol[-1], (2 / 3 + mu) / (5 / 3), atol=BOLOMETRIC_TOL)


def test_nonlinear_fit_recovers_known_coefficients():
    c = np.array([[0.6, -0.3, 0.5, -0.2], [0.1, 0.9, -0.4, 0.05]])
    prof = limb.nonlinear_law(limb.MU_GRID, c)
    np.testing.assert_allclose(limb.fit_nonlinear_law(limb.MU_GRID, prof), c, atol=1e-10)


def test_limb_darkening_weakens_with_wavelength_and_temperature():
    wl = np.array([0.7, 2.0, 3.9])
    c = limb.limb_darkening_nonlinear(wl, 5000.0)
    edge = limb.nonlinear_law(np.array([0.1]), c)[:, 0]
    assert np.all(np.diff(edge) > 0)  # the limb is relatively brighter in the infrared
    hot = limb.nonlinear_law(np.array([0.1]), limb.limb_darkening_nonlinear(wl, 6500.0))[:, 0]
    assert np.all(hot > edge)  # a hotter star darkens less at fixed lambda (less Wien-like)
    # the law represents the grey profile it was fitted to
    prof = limb.grey_intensity(limb.MU_GRID, wl, 5000.0)
    prof /= limb.grey_intensity(np.array([1.0]), wl, 5000.0)
    assert np.abs(limb.nonlinear_law(limb.MU_GRID, c) - prof).max() < LAW_FIT_TOL


# --------------------------------------------------------------------------- transit
def test_batman_transit_depth_matches_limb_darkened_disc(star):
    k = 0.02
    ld = scene.limb_coefficients(np.array([0.7, 3.0]), star)
    geo = scene.Geometry(t0_h=3.0, period_d=4.0, a_rs=10.0, inc_deg=90.0)
    t = np.array([0.0, 3.0, 6.0])
    lc = scene.light_curves(t, geo, np.full(2, k**2), ld)
    mu = np.linspace(0, 1, 20001)
    for j in range(2):
        mean_i = 2 * np.trapezoid(limb.nonlinear_law(mu, ld[j]) * mu, mu)
        assert 1 - lc[j, 1] == pytest.approx(k**2 / mean_i, rel=DEPTH_RTOL)
    np.testing.assert_array_equal(lc[:, [0, 2]], 1.0)  # out of transit: exactly 1
    assert 1 - lc[0, 1] > 1 - lc[1, 1]  # deeper centre where the limb is darker


def test_orbit_scatter_around_star_row(star):
    world = sim.World()
    rng = np.random.default_rng(0)
    draws = np.array([scene.draw_orbit(rng, star, world) for _ in range(N_DRAWS)])
    rel_a = draws[:, 0] / star["sma"] - 1
    assert rel_a.std() == pytest.approx(world.a_rs_scatter, rel=STD_RTOL)
    assert np.abs(rel_a.mean()) < 4 * world.a_rs_scatter / np.sqrt(N_DRAWS)
    b = draws[:, 0] * np.cos(np.radians(draws[:, 1]))
    assert b.max() <= max(scene.MAX_IMPACT, star["sma"] * np.cos(np.radians(star["i"]))) + 1e-9
    off = scene.draw_orbit(rng, star, sim.World().without("geometry"))
    assert off == (float(star["sma"]), float(star["i"]))


def test_spot_factor_deepens_more_in_the_blue():
    wl = np.array([0.7, 2.0, 3.9])
    f = scene.spot_depth_factor(wl, 5000.0, 0.02)
    assert np.all(f > 1) and np.all(np.diff(f) < 0)
    np.testing.assert_array_equal(scene.spot_depth_factor(wl, 5000.0, 0.0), 1.0)
    # f (1 - contrast) in the Rayleigh-Jeans limit: contrast -> T_spot / T
    far = scene.spot_depth_factor(np.array([1e4]), 5000.0, 0.02)[0]
    assert far == pytest.approx(1 / (1 - 0.02 * (1 - scene.SPOT_TEMPERATURE_RATIO)), rel=1e-3)


def test_granulation_rms_and_correlation():
    t = np.arange(0, 7.5 * 3600, 10.0)
    g = scene.granulation(np.random.default_rng(1), t, 40.0)
    assert g.std() * 1e6 == pytest.approx(40.0, rel=0.01)  # scaled on its grid, interpolated
    lag = int(60 / 10)  # 1 min << the 10 min correlation time
    assert np.corrcoef(g[:-lag], g[lag:])[0, 1] > 0.9
    np.testing.assert_array_equal(scene.granulation(np.random.default_rng(1), t, 0.0), 0.0)


# --------------------------------------------------------------------------- spectra
def test_shape_partition_is_disjoint_and_complete():
    shapes = io.read_labels(ARIEL / "2024" / "train_labels.csv").to_numpy()
    pools = spectra.partition_shapes(shapes)
    both = np.vstack([pools["train"], pools["test"]])
    assert len(both) == len(shapes) and len(pools["test"]) > 100
    rows = {r.tobytes() for r in pools["train"]}
    assert not any(r.tobytes() in rows for r in pools["test"])
    assert {r.tobytes() for r in both} == {r.tobytes() for r in shapes}


def _features(x: np.ndarray) -> np.ndarray:
    f = x - x.mean(axis=1, keepdims=True)
    return f / np.linalg.norm(f, axis=1, keepdims=True)


@pytest.mark.parametrize("weight", [0.5, 1.0])
def test_no_test_spectrum_is_a_rescaled_train_one(weight):
    """Default world (0.5) and the real-shapes-only world (1.0): the partition alone suffices."""
    plan = sim.plan_dataset(n_train=300, n_test=150, seed=3)
    stars = io.read_star_info(ARIEL / "2025" / "train_star_info.csv")
    wl = io.read_wavelengths(ARIEL / "2025" / "wavelengths.csv")
    world = sim.World(real_shape_weight=weight)
    spec = sim.planet_spectra(plan, stars, 3, world, wl)
    train = _features(np.array([spec[p.planet_id] for p in plan if p.split == "train"]))
    test = _features(np.array([spec[p.planet_id] for p in plan if p.split == "test"]))
    corr = np.abs(test @ train.T)
    assert corr.max() < RESCALED_CORR
    if weight < 1:  # the parametric part makes every planet unique within a split too
        within = np.abs(train @ train.T) - np.eye(len(train))
        assert within.max() < REPEAT_CORR


def test_parametric_shapes_have_bands_where_molecules_absorb():
    wl = io.read_wavelengths(ARIEL / "2025" / "wavelengths.csv")
    rng = np.random.default_rng(5)
    shapes = np.array([spectra.parametric_shape(rng, wl) for _ in range(400)])
    np.testing.assert_allclose(shapes.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(shapes.std(axis=1), 1.0, rtol=1e-9)
    mean = shapes.mean(axis=0)
    band, window = np.argmin(np.abs(wl - 2.7)), np.argmin(np.abs(wl - 2.15))
    assert mean[band] > mean[window] + 0.5  # the 2.7 um H2O/CO2 band stands above the window


# --------------------------------------------------------------------------- detector world
@pytest.fixture(scope="module")
def airs_maps() -> io.CalibrationMaps:
    return io.read_calibration(sim.default_calibration_dir() / "AIRS-CH0_calibration_0", "AIRS-CH0")


def test_map_variant_reaches_fractions_with_clusters(airs_maps):
    v = detector.map_variant(np.random.default_rng(2), airs_maps, 0.02, 0.015, bad_columns=1)
    assert np.all(v.dead >= airs_maps.dead)
    assert v.dead.mean() == pytest.approx(0.015 + 32 / v.dead.size, abs=0.004)
    assert detector.hot_fraction(v.dark) == pytest.approx(0.02, abs=0.002)
    assert v.dead.all(axis=0).sum() >= 1  # a dead column
    np.testing.assert_array_equal(v.flat, airs_maps.flat)
    # clustered: a new bad pixel has a bad neighbour far more often than at random (~6 %)
    new = v.dead & ~airs_maps.dead
    pad = np.pad(new, 1)
    nb = sum(np.roll(np.roll(pad, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1))[
        1:-1, 1:-1
    ]
    assert np.mean(nb[new] > 1) > 0.3


def test_cosmic_ray_tracks_spread_the_same_charge():
    shape = (200, 32, 356)
    single = detector.cosmic_rays(np.random.default_rng(4), shape, 100.0, 0.0)
    tracks = detector.cosmic_rays(np.random.default_rng(4), shape, 100.0, 3.0)
    n_hits = np.random.default_rng(4).poisson(detector.CR_RATE_PER_PIXEL_S * 100.0 * np.prod(shape))
    assert (single > 0).sum() == pytest.approx(n_hits, rel=0.01)  # one pixel per hit
    assert (tracks > 0).sum() > 2.5 * (single > 0).sum()
    # the same charges: only what leaves the detector edge is lost
    assert 0.9 * single.sum() < tracks.sum() <= single.sum() * (1 + 1e-5)


def test_breathing_follows_the_slow_pointing_and_widens_the_psf():
    t = np.arange(0, 7.5 * 3600, 4.0)
    p = detector.pointing_jitter(np.random.default_rng(7), t, 1, breathing_rms=0.003)
    assert p[:, 2].std() == pytest.approx(0.003, rel=0.1)
    k = int(600 / 4)  # 10 min running mean of dy isolates the slow drift
    slow_dy = np.convolve(p[:, 0], np.ones(k) / k, mode="same")
    assert np.corrcoef(slow_dy[k:-k], p[k:-k, 2])[0, 1] > 0.4
    off = detector.pointing_jitter(np.random.default_rng(7), t, 1, breathing_rms=0.0)
    np.testing.assert_array_equal(off[:, 2], 0.0)
    zero = np.zeros(2)
    psf = detector.fgs_psf(zero, zero, np.array([0.0, 0.1]))
    y = np.arange(32.0)[:, None] - detector.FGS_CENTRE[0]
    m2 = [(img * y**2).sum() / img.sum() for img in psf]
    assert m2[1] / m2[0] == pytest.approx(1.1**2, rel=0.05)


def test_exposure_ramp_values():
    np.testing.assert_allclose(
        detector.exposure_ramp(np.array([0.0, 0.5, 100.0]), 0.002, 0.5),
        [0.998, 1 - 0.002 * np.exp(-1), 1.0],
    )


def test_drift_orders_drawn_per_visit_and_instrument(star):
    maps = {
        i: io.read_calibration(sim.default_calibration_dir() / f"{i}_calibration_0", i)
        for i in io.INSTRUMENTS
    }
    axis = io.read_axis_info(ARIEL / "2025" / "axis_info.parquet")
    axis = dataclasses.replace(
        axis,
        fgs_time_h=axis.fgs_time_h[:40],
        airs_time_h=axis.airs_time_h[:8],
        airs_integration_s=axis.airs_integration_s[:8],
    )
    kw = dict(
        star=star,
        spectrum=np.full(283, 0.01),
        maps=maps,
        axis=axis,
        adc=io.read_adc_info(ARIEL / "2025" / "adc_info.csv"),
        wavelengths=io.read_wavelengths(ARIEL / "2025" / "wavelengths.csv"),
    )
    truths = [sim.simulate_visit(seed=(9, 9, s), **kw)[1] for s in range(12)]
    orders = {(t.drift_order_fgs, t.drift_order_airs) for t in truths}
    assert {o for pair in orders for o in pair} <= set(range(2, 7))
    assert any(a != b for a, b in orders) and len(orders) > 3
    assert any(t.fgs_drift_amplitude != t.drift_amplitude for t in truths)
    shared = sim.simulate_visit(seed=(9, 9, 0), world=sim.World().without("drift"), **kw)[1]
    assert shared.drift_order_fgs == shared.drift_order_airs == 5
    assert shared.fgs_drift_amplitude == shared.drift_amplitude


# --------------------------------------------------------------------------- World
def test_world_from_mapping_and_without():
    assert sim.World.from_mapping(None) == sim.World()
    w = sim.World.from_mapping({"ramp_amplitude": 0.0})
    assert w.ramp_amplitude == 0.0 and w.granulation_ppm == sim.World().granulation_ppm
    with pytest.raises(ValueError, match="unknown simulation.world keys: nope"):
        sim.World.from_mapping({"nope": 1})
    with pytest.raises(ValueError, match="granulation_ppm must be >= 0"):
        sim.World.from_mapping({"granulation_ppm": -1.0})
    with pytest.raises(ValueError, match="drift_order_min"):
        sim.World.from_mapping({"drift_order_min": 7})
    for name, fields in sim.DEVIATIONS.items():
        off = sim.World().without(name)
        assert off != sim.World() and all(getattr(off, k) == v for k, v in fields.items())


def test_config_defaults_are_the_world_defaults():
    import yaml

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / "config" / "config.yaml").read_text())["simulation"]["world"]
    schema = yaml.safe_load((repo / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["simulation"]["properties"]["world"]["properties"]
    default = dataclasses.asdict(sim.World())
    assert cfg == default
    assert {k: v["default"] for k, v in props.items()} == default
