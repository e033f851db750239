"""The cube's variance matches the measured scatter of the data, at any time scale.

Simulated data at time scale K average K frame pairs into one (noise / sqrt(K)), so the
per-pixel photon + read variance is K times too large for them; the real detector is also
sub-Poisson in counts. The calibration scales the propagated variance to the measured white
noise of each series (``phase.white_noise_scale``) and the binned cube by the red-noise beta
(``phase.red_noise_beta2``). Checked here end to end on one simulated planet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from spectramind import io, sim
from spectramind.calibration import phase
from spectramind.calibration.pipeline import CalibrationConfig, build_cube
from spectramind.calibration.products import calibrate_planet

REPO = Path(__file__).resolve().parents[1]
# the acceptance band for measured scatter / sqrt(variance)
RATIO_RANGE = (0.8, 1.25)
# white_noise_scale on 2000 samples: the MAD-based variance has a relative error of
# ~1.6 x sqrt(2 / 2000) = 5 %; allow 4 SE
SCALE_RTOL = 0.2


def _oot_ratio(cube, margin_h: float = 0.25) -> np.ndarray:
    """Measured OOT scatter (consecutive-bin differences / sqrt 2) / sqrt(median variance)."""
    f, v, t = cube.flux.values[0], cube.variance.values[0], cube.time.values
    ing, eg = float(cube.ingress.values[0]), float(cube.egress.values[0])
    oot = (t < ing - margin_h) | (t > eg + margin_h)
    pair = oot[1:] & oot[:-1]
    d = np.diff(f, axis=0)[pair] / np.sqrt(2)
    return np.nanstd(d, axis=0) / np.sqrt(np.nanmedian(v[oot], axis=0))


def _simulated_cube(tmp_path: Path, time_scale: int):
    out = tmp_path / f"k{time_scale}"
    sim.simulate_dataset(
        out, n_train=1, n_test=0, seed=3, time_scale=time_scale, second_visit_fraction=0,
        log=lambda m: None,
    )  # fmt: skip
    cfg = CalibrationConfig.from_dict(
        yaml.safe_load((REPO / "config" / "config.yaml").read_text())["calibration"]
    )
    pid = io.list_planets(out, "train")[0]
    visits = calibrate_planet(out, "train", pid, cfg)
    star = io.read_star_info(out / "train_star_info.csv").loc[pid]
    return build_cube(pid, visits, star, io.read_wavelengths(out / "wavelengths.csv"), cfg)


@pytest.mark.parametrize("time_scale", [25, pytest.param(5, marks=pytest.mark.slow)])
def test_cube_variance_matches_measured_scatter(tmp_path, time_scale):
    ratio = _oot_ratio(_simulated_cube(tmp_path, time_scale))
    lo, hi = RATIO_RANGE
    assert lo <= ratio[0] <= hi, f"FGS1 scatter / sqrt(variance) = {ratio[0]:.3f}"
    airs = float(np.nanmedian(ratio[1:]))
    assert lo <= airs <= hi, f"AIRS median scatter / sqrt(variance) = {airs:.3f}"


def test_white_noise_scale_recovers_a_wrong_variance():
    rng = np.random.default_rng(0)
    n, true_sd = 2000, np.array([1.0, 2.0, 3.0, 4.0])
    t = np.linspace(0, 1, n)[:, None]
    flux = 100 + 5 * np.sin(3 * t) + rng.normal(size=(n, 4)) * true_sd  # smooth signal + noise
    var = np.full((n, 4), 25.0) * true_sd**2  # propagated variance 25x too large
    scale = phase.white_noise_scale(flux, var)
    np.testing.assert_allclose(scale, 1 / 25, rtol=SCALE_RTOL)
    one = phase.white_noise_scale(flux[:, 0], var[:, 0])
    assert np.ndim(one) == 0 and float(one) == pytest.approx(1 / 25, rel=SCALE_RTOL)


def test_red_noise_beta_measures_excess_noise_and_never_shrinks():
    """Sub-bin correlated noise (jitter averaged into a bin) is white at the bin scale: beta^2
    is its excess over the propagated variance; an overestimated variance is left alone."""
    rng = np.random.default_rng(1)
    n = 400
    white = rng.normal(size=(n, 3))
    oot = np.ones(n, dtype=bool)
    beta2 = phase.red_noise_beta2(1 + 2e-3 * white, np.full((n, 3), 1e-6), oot)
    np.testing.assert_allclose(beta2, 4.0, rtol=SCALE_RTOL)  # 2x the propagated sigma
    kept = phase.red_noise_beta2(1 + 1e-3 * white, np.full((n, 3), 4e-6), oot)
    np.testing.assert_array_equal(kept, 1.0)
    # FGS1 (column 0) is measured on its own: a noisier AIRS does not change it
    mixed = 1 + 1e-3 * white * np.array([1.0, 3.0, 3.0])
    b = phase.red_noise_beta2(mixed, np.full((n, 3), 1e-6), oot)
    assert b[0] == pytest.approx(1.0, abs=SCALE_RTOL) and b[1] == pytest.approx(9.0, rel=SCALE_RTOL)
