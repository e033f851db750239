"""Unit tests for :mod:`spectramind.calibration.detector`: synthetic data with known answers."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from spectramind import io, sim
from spectramind.calibration import detector

CAL = Path(__file__).resolve().parents[1] / "resources" / "ariel" / "2025" / "calibration"
GAIN, OFFSET = 0.4369, -1000.0  # resources/ariel/2025/adc_info.csv (both instruments)
ONE_ADU = 1.0 / GAIN  # counts per ADU: the quantisation step of the ADC
# adc_decode works in float32: decoded values reach 65535 / 0.4369 ~ 1.5e5 counts, where a
# float32 ulp is 2**-6 = 0.016; two roundings (scale, add offset) -> allow ~2.5 ulp
F32_DECODE_TOL = 0.04
# sim.invert_linearity stops when its Newton step is below 0.01 counts; Newton converges
# quadratically, so the residual left is far below that: the brief's 0.01-count bound
LINEARITY_TOL = 0.01
# linearity evaluated in float32 (as run_pixel_stages does): Horner on values up to 1e5 with
# relative error ~6 ulp of float32 (6 * 6e-8 * 1e5 = 0.036), plus the rounding of x itself
LINEARITY_F32_TOL = 0.06
DT_AIRS = (0.1, 4.6)  # s, start/end read dark times of AIRS-CH0 (DESIGN.md "The real data")
# relative accuracy of the mean temporal_scatter of 1024 white-noise pixels (see the test)
SCATTER_TOL = 0.007
CR_SIGMA = 6.0  # cosmic-ray threshold of CalibrationConfig


@pytest.fixture
def make_raw_cube():
    """Factory: float64 counts ``(n_time, ny, nx)``, uniform in [low, high)."""

    def _make(
        n_time: int, ny: int, nx: int, *, low: float = -500.0, high: float = 1.4e5, seed: int = 0
    ) -> np.ndarray:
        return np.random.default_rng(seed).uniform(low, high, size=(n_time, ny, nx))

    return _make


@pytest.fixture
def make_dark_map():
    """Factory: dark current map (counts/s) ``(ny, nx)`` with optional injected hot pixels."""

    def _make(
        ny: int, nx: int, *, hot: list[tuple[int, int]] = (), hot_value: float = 0.5, seed: int = 0
    ) -> np.ndarray:
        rng = np.random.default_rng(seed)
        dark = rng.normal(0.01, 0.002, size=(ny, nx))
        for y, x in hot:
            dark[y, x] = hot_value
        return dark

    return _make


@pytest.fixture(scope="module")
def calibration_maps() -> dict[str, io.CalibrationMaps]:
    return {
        inst: io.read_calibration(CAL / f"{inst}_calibration_0", inst)
        for inst in ("AIRS-CH0", "FGS1")
    }


# --------------------------------------------------------------------------- ADC
def test_adc_decode_hand_values():
    raw = np.array([[[0, 4369, 65535]]], dtype=np.uint16)
    out = detector.adc_decode(raw, GAIN, OFFSET, sign="add")
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        out[0, 0], [-1000.0, 9000.0, 65535 / GAIN - 1000.0], atol=F32_DECODE_TOL
    )
    sub = detector.adc_decode(raw, GAIN, OFFSET, sign="subtract")
    np.testing.assert_allclose(
        sub[0, 0], [1000.0, 11000.0, 65535 / GAIN + 1000.0], atol=F32_DECODE_TOL
    )


@pytest.mark.parametrize(("sign", "encode_offset"), [("add", OFFSET), ("subtract", -OFFSET)])
def test_adc_round_trip_within_one_adu(make_raw_cube, sign, encode_offset):
    # counts such that the encoded ADU stays inside [0, 65535] for both conventions
    counts = make_raw_cube(4, 32, 64, low=1500.0, high=1.4e5, seed=1)
    raw = sim.adc_encode(counts, GAIN, encode_offset)
    assert raw.min() > 0 and raw.max() < 65535
    raw_before = raw.copy()
    decoded = detector.adc_decode(raw, GAIN, OFFSET, sign=sign)
    np.testing.assert_array_equal(raw, raw_before)
    # the encoder floors: the decoded value is at most one ADU below the true counts, never above
    err = counts - decoded
    assert err.min() >= -F32_DECODE_TOL
    assert err.max() <= ONE_ADU + F32_DECODE_TOL
    # and the error is really spread over the whole ADU (the floor is there, not a bias)
    assert 0.4 * ONE_ADU < err.mean() < 0.6 * ONE_ADU


def test_adc_signs_differ_by_twice_the_offset(make_raw_cube):
    raw = sim.adc_encode(make_raw_cube(2, 8, 8, seed=2), GAIN, OFFSET)
    add = detector.adc_decode(raw, GAIN, OFFSET, sign="add")
    sub = detector.adc_decode(raw, GAIN, OFFSET, sign="subtract")
    np.testing.assert_allclose(sub - add, -2.0 * OFFSET, atol=F32_DECODE_TOL)


def test_adc_unknown_sign_raises():
    with pytest.raises(ValueError, match="sign"):
        detector.adc_decode(np.zeros((2, 2, 2), np.uint16), GAIN, OFFSET, sign="plus")


def test_saturation_mask_flags_range_ends():
    raw = np.array([[[0, 1, 30000, 65534, 65535]]], dtype=np.uint16)
    np.testing.assert_array_equal(
        detector.saturation_mask(raw)[0, 0], [True, False, False, False, True]
    )


# --------------------------------------------------------------------------- masks
def test_hot_pixel_mask_finds_injected_hot_pixels(make_dark_map):
    hot = [(3, 5), (17, 40), (31, 63), (0, 0)]
    dark = make_dark_map(32, 64, hot=hot, seed=3)
    dark[10, 10] = -0.5  # a strongly negative (cold) outlier: the clip is upper-side only
    before = dark.copy()
    found = detector.hot_pixel_mask(dark, sigma=5.0)
    expected = np.zeros_like(found)
    for y, x in hot:
        expected[y, x] = True
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(dark, before)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sigma", [2.0, 3.0, 5.0])
def test_hot_pixel_mask_is_astropy_sigma_clip(make_dark_map, seed, sigma):
    """The numpy clip (no astropy import in the jobs) gives astropy's mask, NaN included."""
    from astropy.stats import sigma_clip

    rng = np.random.default_rng(seed)
    dark = make_dark_map(32, 64, hot=[tuple(p) for p in rng.integers(0, 32, (5, 2))], seed=seed)
    dark += rng.standard_t(3, dark.shape) * 0.002  # heavy tails: several clipping rounds
    dark[rng.integers(0, 32), rng.integers(0, 64)] = np.nan
    with warnings.catch_warnings():  # astropy warns that it clips the NaN
        warnings.simplefilter("ignore")
        ref = sigma_clip(dark, sigma_lower=np.inf, sigma_upper=sigma, maxiters=None, masked=True)
    np.testing.assert_array_equal(
        detector.hot_pixel_mask(dark, sigma=sigma), np.ma.getmaskarray(ref)
    )


def test_hot_pixel_mask_clean_map_has_no_hot_pixels(make_dark_map):
    assert not detector.hot_pixel_mask(make_dark_map(32, 64, seed=4), sigma=5.0).any()


def test_bad_flat_mask_and_pixel_mask(make_dark_map):
    flat = np.full((2, 4), 1.0)
    flat[0, :] = [0.0, np.nan, -0.1, 0.15]  # zero, NaN, negative, below minimum
    flat[1, :] = [0.2, 0.95, np.inf, 1.1]  # 0.2 is the minimum itself: allowed
    bad = detector.bad_flat_mask(flat, minimum=0.2)
    np.testing.assert_array_equal(bad, [[True, True, True, True], [False, False, True, False]])

    dark = make_dark_map(2, 4, seed=5)
    dead = np.zeros((2, 4), bool)
    dead[1, 3] = True
    full = detector.pixel_mask(dead, dark, flat, hot_sigma=5.0, flat_minimum=0.2)
    np.testing.assert_array_equal(full, bad | dead)


# --------------------------------------------------------------------------- linearity
def test_linearity_hand_value():
    coeffs = np.arange(1.0, 7.0)[:, None, None] * np.ones((6, 1, 2))  # c_k = k + 1
    x = np.array([[[2.0, -1.0]]])
    # 1 + 2*2 + 3*4 + 4*8 + 5*16 + 6*32 = 321; at -1: 1 - 2 + 3 - 4 + 5 - 6 = -3
    np.testing.assert_array_equal(detector.linearity_correct(x, coeffs), [[[321.0, -3.0]]])


def test_linearity_identity_coeffs_leave_data_unchanged(make_raw_cube):
    x = make_raw_cube(3, 4, 5, seed=6).astype(np.float32)
    coeffs = np.zeros((6, 4, 5))
    coeffs[1] = 1.0
    out = detector.linearity_correct(x, coeffs)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("instrument", ["AIRS-CH0", "FGS1"])
def test_linearity_inverts_simulated_nonlinearity(calibration_maps, instrument):
    coeffs = calibration_maps[instrument].linear_corr
    ny, nx = coeffs.shape[1:]
    rng = np.random.default_rng(7)
    levels = np.array([0.0, 100.0, 3e3, 2e4, 6e4, 1e5])[:, None, None]
    linear = levels + rng.uniform(0, 50, size=(levels.size, ny, nx))
    raw_counts = sim.invert_linearity(linear, coeffs)
    before = raw_counts.copy()
    coeffs_before = coeffs.copy()
    corrected = detector.linearity_correct(raw_counts, coeffs)
    np.testing.assert_allclose(corrected, linear, rtol=0, atol=LINEARITY_TOL)
    # the correction is not the identity on these maps (else the test could not fail)
    assert np.abs(raw_counts - linear).max() > 100 * LINEARITY_TOL
    np.testing.assert_array_equal(raw_counts, before)
    np.testing.assert_array_equal(coeffs, coeffs_before)
    # float32, as the pipeline runs it
    c32 = detector.linearity_correct(raw_counts.astype(np.float32), coeffs.astype(np.float32))
    assert c32.dtype == np.float32
    np.testing.assert_allclose(c32, linear, rtol=0, atol=LINEARITY_F32_TOL)


# --------------------------------------------------------------------------- dark, flat
def test_dark_subtract_uses_read_parity(make_raw_cube, make_dark_map):
    x = make_raw_cube(6, 8, 10, low=0, high=1e4, seed=8)
    dark = make_dark_map(8, 10, hot=[(2, 3)], hot_value=11.9, seed=8)
    before = x.copy()
    out = detector.dark_subtract(x, dark, DT_AIRS)
    np.testing.assert_array_equal(out[0::2], x[0::2] - dark * 0.1)
    np.testing.assert_array_equal(out[1::2], x[1::2] - dark * 4.6)
    np.testing.assert_array_equal(x, before)
    # float32 input keeps its dtype
    out32 = detector.dark_subtract(x.astype(np.float32), dark, DT_AIRS)
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(
        out32[1::2], x[1::2].astype(np.float32) - (dark * 4.6).astype(np.float32)
    )


def test_flat_field_divides_and_never_divides_through_bad_pixels(make_raw_cube):
    x = make_raw_cube(4, 2, 3, low=10, high=1e4, seed=9)
    flat = np.array([[0.9, 1.1, 0.0], [np.nan, 1.05, 0.5]])
    bad = detector.bad_flat_mask(flat, minimum=0.2)
    np.testing.assert_array_equal(bad, [[False, False, True], [True, False, False]])
    before = x.copy()
    out = detector.flat_field(x, flat, bad)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, 0, 2], x[:, 0, 2])  # zero flat: unchanged
    np.testing.assert_array_equal(out[:, 1, 0], x[:, 1, 0])  # NaN flat: unchanged
    np.testing.assert_array_equal(out[:, 0, 0], x[:, 0, 0] / 0.9)
    np.testing.assert_array_equal(out[:, 1, 2], x[:, 1, 2] / 0.5)
    np.testing.assert_array_equal(x, before)


# --------------------------------------------------------------------------- CDS
def test_cds_of_injected_ramp_is_exact():
    rng = np.random.default_rng(10)
    n_pairs, ny, nx = 5, 4, 6
    # integer counts: rate r (multiple of 10 counts/s) and reset offset a, so that
    # start = a + 0.1 r and end = a + 4.6 r are integers and exactly representable
    r = 10 * rng.integers(0, 2000, size=(n_pairs, ny, nx))
    reads = np.empty((2 * n_pairs, ny, nx))
    for a_seed in (11, 12):
        a = np.random.default_rng(a_seed).integers(-3000, 3000, size=(ny, nx))
        reads[0::2] = a + r // 10
        reads[1::2] = a + r * 46 // 10
        before = reads.copy()
        out = detector.cds(reads)
        np.testing.assert_array_equal(out, r * 45 // 10)  # r * 4.5 exactly; a cancels
        np.testing.assert_array_equal(reads, before)


def test_dark_then_cds_of_ramp_with_dark_current(make_dark_map):
    rng = np.random.default_rng(13)
    rate = rng.uniform(0, 2e4, size=(3, 4, 6))  # counts/s
    dark = make_dark_map(4, 6, hot=[(1, 1)], hot_value=11.9, seed=13)
    reset = rng.uniform(-50, 50, size=(4, 6))
    reads = np.empty((6, 4, 6))
    reads[0::2] = reset + (rate + dark) * 0.1
    reads[1::2] = reset + (rate + dark) * 4.6
    out = detector.cds(detector.dark_subtract(reads, dark, DT_AIRS))
    # float64 round-off of values ~1e5: 1e-9 relative is ~1e5 ulps of headroom, but a
    # wrong dt (e.g. 4.5 for the end read) would be off by 0.1 * dark ~ 1e-3 counts
    np.testing.assert_allclose(out, rate * 4.5, rtol=1e-12, atol=1e-9)


def test_cds_needs_pairs():
    with pytest.raises(ValueError, match="pairs"):
        detector.cds(np.zeros((3, 2, 2)))


def test_cds_variance_hand_values():
    signal = np.array([[[100.0, -50.0, 100.0]]])
    read = np.array([[10.0, 10.0, 10.0]])
    flat = np.array([[0.5, 0.5, 0.0]])
    bad = np.array([[False, False, True]])
    var = detector.cds_variance(signal, read, flat, bad)
    # (max(s, 0) f + 2 read^2) / f^2: (50 + 200) / 0.25; (0 + 200) / 0.25; bad flat -> f = 1
    np.testing.assert_allclose(var[0, 0], [1000.0, 800.0, 300.0], rtol=1e-15)


# --------------------------------------------------------------------------- cosmic rays
def test_median3_residual_hand_values():
    x = np.array([1.0, 5.0, 2.0, 2.0, 9.0])[:, None, None]
    # medians: (1,1,5)->1 (edge: its one neighbour), (1,5,2)->2, (5,2,2)->2, (2,2,9)->2, (2,9,9)->9
    np.testing.assert_array_equal(detector.median3_residual(x)[:, 0, 0], [0.0, 3.0, 0.0, 0.0, 0.0])
    # with the frames just outside the chunk: (0,1,5)->1, ..., (2,9,100)->9
    got = detector.median3_residual(x, prev=np.array([[0.0]]), nxt=np.array([[100.0]]))
    np.testing.assert_array_equal(got[:, 0, 0], [0.0, 3.0, 0.0, 0.0, 0.0])
    got = detector.median3_residual(x, prev=np.array([[4.0]]), nxt=np.array([[3.0]]))
    np.testing.assert_array_equal(got[:, 0, 0], [-3.0, 3.0, 0.0, 0.0, 6.0])


def test_temporal_scatter_estimates_white_noise_sigma():
    sigma = 3.0
    x = np.random.default_rng(14).normal(100.0, sigma, size=(2000, 32, 32))
    est = detector.temporal_scatter(x)
    # per pixel: a median of ~1330 nonzero residuals, measured relative std 4.1 %; the mean
    # of 1024 pixels is good to 0.13 %: SCATTER_TOL is 5 of those, and still catches a
    # 1.5 % error in the constant (e.g. the former 0.4722, for a true 0.4652)
    assert est.mean() == pytest.approx(sigma, rel=SCATTER_TOL)
    # no pixel is off by more than 6 per-pixel standard deviations (6 * 4.1 %)
    assert np.abs(est / sigma - 1).max() < 0.25


def test_temporal_scatter_of_a_flat_series_is_zero():
    x = np.full((10, 2, 3), 5.0)
    np.testing.assert_array_equal(detector.temporal_scatter(x), 0.0)


@pytest.fixture
def make_psf_series():
    """Factory: FGS1-like frames (n, 32, 32) with pointing jitter correlated over
    ``corr_pairs`` frames and ``rms_px`` rms, plus photon + read noise; returns x, var."""

    def _make(
        n_time: int,
        *,
        rms_px: float = 0.1,
        corr_pairs: float = 1.0,
        total: float = 2.2e5,
        read: float = 14.0,
        seed: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        p = gaussian_filter1d(rng.normal(size=(2, n_time)), corr_pairs, axis=1)
        p *= rms_px / p.std(axis=1, keepdims=True)
        model = total * sim.fgs_psf(p[0], p[1]) + sim.FGS_BACKGROUND
        var = model + 2 * read**2
        return model + np.sqrt(var) * rng.standard_normal(model.shape), var

    return _make


def test_single_spike_is_flagged_and_its_time_neighbours_are_not(make_psf_series):
    x, var = make_psf_series(60, rms_px=0.0, seed=15)  # no jitter: photon + read noise only
    t, y, xx = 30, 20, 7
    spike = 50.0 * np.sqrt(var[t, y, xx])
    x[t, y, xx] += spike
    before = x.copy()
    flags = detector.flag_cosmic_rays(x, var, CR_SIGMA, scatter=detector.temporal_scatter(x))
    expected = np.zeros_like(flags)
    expected[t, y, xx] = True
    np.testing.assert_array_equal(flags, expected)
    np.testing.assert_array_equal(x, before)
    # a spike in the first frame of a chunk is found with the previous chunk's last frame
    x2 = before.copy()
    x2[t, y, xx] -= spike
    x2[t, 3, 4] += spike
    flags = detector.flag_cosmic_rays(x2[t:], var[t:], CR_SIGMA, prev=x2[t - 1], nxt=None)
    assert flags[0, 3, 4] and flags.sum() == 1


def test_correlated_jitter_is_not_flagged_with_temporal_scatter(make_psf_series):
    # pointing jitter correlated over ~1 pair (as in the real FGS1 excerpt, where the PSF
    # core moves smoothly over a few 0.4 s pairs): the core pixels change by many photon sigma
    x, var = make_psf_series(200, rms_px=0.1, corr_pairs=1.0, seed=16)
    without = detector.flag_cosmic_rays(x, var, CR_SIGMA)
    assert without.sum() > 20  # photon noise alone cannot explain the jitter: flagged
    scatter = detector.temporal_scatter(x)
    # in the PSF core (3x3 around the peak at (15.3, 15.75)) jitter dominates photon noise
    assert (scatter[14:17, 15:18] > np.sqrt(var[:, 14:17, 15:18]).mean(axis=0)).all()
    flags = detector.flag_cosmic_rays(x, var, CR_SIGMA, scatter=scatter)
    assert flags.sum() == 0
    # a real cosmic ray (3000 counts, the simulator's median deposit) on a PSF wing pixel
    # on top of the jitter is still found
    x[100, 12, 20] += 3000.0
    flags = detector.flag_cosmic_rays(x, var, CR_SIGMA, scatter=detector.temporal_scatter(x))
    assert flags[100, 12, 20] and flags.sum() == 1
