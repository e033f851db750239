"""CF-1.10 / astropy metadata of the products: the helpers (known answers), a cube and a physics
product built from synthetic series (fast), and the small run's own files (slow).

Every ``units`` string must parse with :mod:`astropy.units`; flags are numeric arrays with
meanings; ``sigma`` sits beside ``variance``; wavelength and time bounds are found by
``cf_xarray`` from the ``bounds`` attributes.
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import cf_xarray  # noqa: F401  (registers the ``.cf`` accessor)
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectramind import conventions, io
from spectramind.calibration.pipeline import CalibrationConfig, VisitSeries, build_cube
from spectramind.calibration.products import write_netcdf
from spectramind.physics.products import PlanetFit, fit_dataset
from spectramind.physics.whitelight import WhiteFit

GLOBAL_KEYS = ("Conventions", "title", "institution", "source", "history", "references")
N_PAIRS = 900  # 30 s pairs over the 7.5 h visit


# --------------------------------------------------------------------------- helpers
def test_bin_bounds_are_midpoints_and_the_isolated_bin_has_zero_width() -> None:
    c = np.r_[0.7, np.linspace(1.95, 3.9, 40)]
    b = conventions.bin_bounds(c)
    step = c[2] - c[1]
    np.testing.assert_array_equal(b[0], [0.7, 0.7])  # FGS1: no neighbour to bound it
    np.testing.assert_allclose(b[1:, 1] - b[1:, 0], step, rtol=1e-12)  # uniform AIRS bins
    np.testing.assert_allclose(0.5 * (b[1:, 0] + b[1:, 1]), c[1:], rtol=1e-12)
    np.testing.assert_array_equal(b[1:-1, 1], b[2:, 0])  # contiguous
    assert b[1, 0] == pytest.approx(1.95 - step / 2)
    uneven = conventions.bin_bounds(np.array([1.0, 2.0, 4.0]))
    np.testing.assert_allclose(uneven, [[0.5, 1.5], [1.5, 3.0], [3.0, 5.0]])
    with pytest.raises(ValueError, match="repeat"):
        conventions.bin_bounds(np.array([1.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="finite"):
        conventions.bin_bounds(np.array([1.0, np.nan]))


def test_star_attributes_carry_units_and_refuse_unknown_keys() -> None:
    attrs = conventions.star_attributes({"planet_id": 3, "P": 3.5, "Rs": 1.1, "Ts": 5600.0})
    assert attrs == {
        "star_P": 3.5,
        "star_P_units": "d",
        "star_P_long_name": "orbital period",
        "star_Rs": 1.1,
        "star_Rs_units": "solRad",
        "star_Rs_long_name": "stellar radius",
        "star_Ts": 5600.0,
        "star_Ts_units": "K",
        "star_Ts_long_name": "stellar effective temperature",
    }
    assert (3.5 * u.Unit(attrs["star_P_units"])).to(u.h).value == pytest.approx(84.0)
    with pytest.raises(ValueError, match="'albedo' has no units"):
        conventions.star_attributes({"albedo": 0.3})


def test_with_sigma_is_the_square_root_beside_the_variance() -> None:
    ds = xr.Dataset(
        {"flux": ("t", [1.0, 2.0], {"units": "1"}), "variance": ("t", [4.0, 9.0], {"units": "1"})}
    )
    out = conventions.with_sigma(ds, "variance", "sigma", of="flux")
    np.testing.assert_array_equal(out["sigma"].values, [2.0, 3.0])
    assert out["sigma"].attrs["units"] == "1"
    assert out["flux"].attrs["ancillary_variables"] == "sigma variance"
    assert "sigma" not in ds  # input untouched


# --------------------------------------------------------------------------- the checker
def assert_cf_attributes(ds: xr.Dataset, name: str) -> None:
    """Global attributes, units that astropy parses on every float variable, numeric flags
    with meanings (``name`` for the messages)."""
    for key in GLOBAL_KEYS:
        assert ds.attrs.get(key), f"{name}: no global attribute {key}"
    assert ds.attrs["Conventions"] == "CF-1.10"
    # a bounds variable takes its coordinate's units (CF 7.1; xarray drops a copy on writing)
    bounds = {v.attrs["bounds"] for v in ds.variables.values() if "bounds" in v.attrs}
    for vname, var in {**ds.coords, **ds.data_vars}.items():
        if vname in bounds:
            continue
        if "units" in var.attrs:
            try:
                u.Unit(var.attrs["units"])
            except ValueError as exc:
                pytest.fail(f"{name}: {vname} units {var.attrs['units']!r}: {exc}")
        elif np.issubdtype(var.dtype, np.floating):
            pytest.fail(f"{name}: float variable {vname} has no units")
        if "flag_values" in var.attrs:
            values = np.atleast_1d(var.attrs["flag_values"])
            assert np.issubdtype(values.dtype, np.integer), (
                f"{name}: {vname} flag_values {values!r}"
            )
            meanings = var.attrs["flag_meanings"].split()
            assert len(meanings) == values.size, f"{name}: {vname} flag_meanings {meanings}"
            assert set(np.unique(var.values)) <= set(values.tolist())


def assert_cf_product(ds: xr.Dataset, name: str) -> None:
    """The attributes issue 17 asks of a cube or physics product (``name`` for the messages)."""
    assert_cf_attributes(ds, name)
    for key in (
        k for k in ds.attrs if k.startswith("star_") and not k.endswith(("_units", "_long_name"))
    ):
        u.Unit(ds.attrs[f"{key}_units"])  # every star attribute states its unit
    if "variance" in ds:
        np.testing.assert_allclose(ds["sigma"].values, np.sqrt(ds["variance"].values))
    assert ds["wavelength"].attrs["bounds"] == "wavelength_bnds"
    assert ds.cf.bounds["wavelength"] == ["wavelength_bnds"]  # cf_xarray finds them
    bnds = ds.cf.get_bounds("wavelength").values
    wl = ds["wavelength"].values
    assert np.all((bnds[:, 0] <= wl) & (wl <= bnds[:, 1]))
    # AIRS-CH0 bins (wl_2..wl_283): edges at the midpoints of neighbouring centres, contiguous
    np.testing.assert_allclose(bnds[1:-1, 1], 0.5 * (wl[1:-1] + wl[2:]), rtol=1e-12)
    np.testing.assert_array_equal(bnds[1:-1, 1], bnds[2:, 0])


def synthetic_series(seed: int = 0) -> tuple[list[VisitSeries], pd.Series, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 7.5, N_PAIRS, endpoint=False) + 7.5 / N_PAIRS / 2
    box = np.where(np.abs(t - 3.6) < 1.2, 0.985, 1.0)
    fgs = {
        "flux": 1e5 * box + rng.normal(0, 30, t.size),
        "var": np.full(t.size, 900.0),
        "centroid_y": 15.5 + rng.normal(0, 0.01, t.size),
        "centroid_x": 16.0 + rng.normal(0, 0.01, t.size),
        "background": np.full(t.size, 2.0),
        "masked_fraction": np.full(t.size, 0.01),
        "transient_pixels": rng.poisson(0.2, t.size).astype(float),
    }
    airs = {
        "flux": 1e4 * box[:, None] + rng.normal(0, 10, (t.size, io.N_BINS - 1)),
        "var": np.full((t.size, io.N_BINS - 1), 100.0),
        "trace_y": 15.0 + rng.normal(0, 0.02, t.size),
        "trace_width": np.full(t.size, 1.3),
        "background": np.full(t.size, 3.0),
        "masked_fraction": np.full(t.size, 0.02),
        "transient_pixels": rng.poisson(1.0, t.size).astype(float),
    }
    visit = VisitSeries(t, fgs, t, airs, {"adc": "COMPLETE"}, 12, 0.015)
    star = pd.Series(
        {"Rs": 1.0, "Ms": 1.0, "Ts": 5700.0, "Mp": 1.0, "e": 0.0, "P": 3.0, "sma": 9.0, "i": 89.0}
    )
    wl = np.r_[0.705, np.linspace(1.95, 3.9, io.N_BINS - 1)]
    return [visit], star, wl


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> tuple[xr.Dataset, xr.Dataset]:
    visits, star, wl = synthetic_series()
    cube = build_cube(7, visits, star, wl, CalibrationConfig())
    nv, nt = cube.sizes["visit"], cube.sizes["time"]
    white = WhiteFit(
        t0_h=np.array([3.6]),
        a_rs=9.0,
        inc_deg=89.0,
        k={"FGS1": 0.12, "AIRS-CH0": 0.122},
        u={"FGS1": (0.4, 0.2), "AIRS-CH0": (0.2, 0.2)},
        k_err={"FGS1": 1e-3, "AIRS-CH0": 5e-4},
        drift={i: np.ones((nv, nt)) for i in io.INSTRUMENTS},
        model={i: np.ones((nv, nt)) for i in io.INSTRUMENTS},
        chi2_red=1.0,
        success=True,
    )
    n = io.N_BINS
    fit = PlanetFit(np.full(n, 0.015), np.full(n, 1e-4), np.ones(n), "ok", white)
    d = tmp_path_factory.mktemp("cf")
    write_netcdf(cube, d / "cube.nc")
    write_netcdf(fit_dataset(7, cube, fit), d / "physics.nc")
    with xr.open_dataset(d / "cube.nc") as c, xr.open_dataset(d / "physics.nc") as p:
        return c.load(), p.load()


def test_cube_follows_cf_and_astropy(products: tuple[xr.Dataset, xr.Dataset]) -> None:
    cube, _ = products
    assert_cf_product(cube, "cube")
    assert cube["quality"].attrs["flag_meanings"].split()[-1] == "no_valid_data"  # DQ bits
    assert cube.attrs["star_P_units"] == "d" and cube["time"].attrs["units"] == "h"
    assert cube.cf.axes["T"] == ["time"]
    assert cube.cf.bounds["time"] == ["time_bnds"]
    np.testing.assert_allclose(np.diff(cube["time_bnds"].values, axis=1), 120.0 / 3600)
    # the QA series the calibration QA figure draws, per time bin and per visit
    np.testing.assert_allclose(cube["airs_masked_fraction"].values, 0.02)
    assert cube["cosmic_rays"].values.tolist() == [12]
    assert u.Unit(cube["fgs_background"].attrs["units"]) == u.count / u.pix


def test_physics_product_follows_cf_and_astropy(products: tuple[xr.Dataset, xr.Dataset]) -> None:
    cube, phys = products
    assert_cf_product(phys, "physics")
    np.testing.assert_array_equal(phys["wavelength_bnds"].values, cube["wavelength_bnds"].values)
    tr = phys["white_fgs_transit"].values[0]
    t = cube["time"].values
    assert tr.max() == pytest.approx(1.0) and tr.min() < 1 - 0.9 * 0.12**2  # a transit, no drift
    assert t[np.argmin(tr)] == pytest.approx(3.6, abs=0.05)  # at t0


@pytest.fixture(scope="module")
def tiny_root(tiny_dataset) -> Path:
    """One simulated test planet with 250x fewer frames (for the per-stage products)."""
    return tiny_dataset(n_train=0, n_test=1, seed=2, second_visit_fraction=0.0)


@pytest.mark.parametrize(
    ("stage", "instrument"),
    [("adc", "AIRS-CH0"), ("cds", "FGS1"), ("photometry", "FGS1"), ("trace", "AIRS-CH0")],
)
def test_stage_products_follow_cf_and_astropy(tiny_root: Path, stage: str, instrument: str) -> None:
    from spectramind.calibration.products import stage_dataset

    pid = io.list_planets(tiny_root, "test")[0]
    ds = stage_dataset(stage, tiny_root, "test", pid, instrument, 0, CalibrationConfig())
    assert_cf_attributes(ds, f"{stage} {instrument}")
    assert stage in ds.attrs["title"] and instrument in ds.attrs["title"]


@pytest.mark.slow
def test_the_runs_products_follow_cf_and_astropy(small_run: Path) -> None:
    cubes = sorted((small_run / "results" / "cubes").glob("*.nc"))
    fits = sorted((small_run / "results" / "physics").glob("*.nc"))
    assert cubes and fits
    for path in (cubes[0], fits[0]):
        with xr.open_dataset(path) as ds:
            assert_cf_product(ds.load(), str(path))
