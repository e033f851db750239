"""One simulated visit: the scene seen through the instruments, as raw uint16 frames.

Stellar flux: AIRS the real per-column CDS flux of star 342072318 (Ts 4798 K,
``resources/ariel/derived/airs_reference_flux.csv``) scaled by B(lambda, Ts) / B(lambda,
4798 K) photon spectra and a brightness (Rs/0.871)^2 10^(-0.4 dm), dm ~ N(0, 0.35), clipped to
[0.3, 2.5] and capped at 2x the reference star's flux (no saturation); FGS1 2.07e6 counts/s
for the reference star, the same scalings at 0.7 um. The relative flux of each instrument is

    transit(t + clock offset; true a/Rs, i, t0; depth x spot factor)
    x (1 + granulation(t) (1 um / lambda)) x (1 + A p_t(t) p_w(lambda)) x ramp(t)

then spread by the jittering, breathing PSF/trace over the pixels (:mod:`.detector`).
Determinism: each visit draws from ``SeedSequence(seed)``; the orbit is the planet's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spectramind import io
from spectramind.sim import detector as det
from spectramind.sim import scene
from spectramind.sim.plan import RESOURCES, World

AIRS_CDS_REF_S = 4.5  # integration of the reference CDS flux table
REF_TS = 4798.0  # K, star 342072318 of the reference flux
REF_RS = 0.871
FGS_REF_RATE = 2.07e6  # counts/s, FGS1 PSF total of the reference star
FGS_WL_UM = 0.7
MAX_FLUX_FACTOR = 2.0  # peak pixels stay below ~1e5 counts (FGS1 ~0.9e5, AIRS ~1.1e5)
REFERENCE_FLUX = RESOURCES / "derived" / "airs_reference_flux.csv"


@dataclass(frozen=True)
class VisitTruth:
    """Truth of one simulated visit (returned for tests and benchmarks)."""

    t0_h: float
    drift_amplitude: float  # AIRS
    airs_columns_depth: np.ndarray  # (356,) depth per detector column (spot factor included)
    pointing: np.ndarray  # (n_fgs_pairs, 3): dy, dx (FGS1 px), relative width change
    a_rs: float = 0.0
    inc_deg: float = 0.0
    timing_offset_s: float = 0.0
    fgs_drift_amplitude: float = 0.0
    drift_order_fgs: int = 0
    drift_order_airs: int = 0
    spot_filling: float = 0.0
    fgs_depth: float = 0.0  # FGS1 depth (spot factor included)

    def geometry(self, period_d: float) -> scene.Geometry:
        return scene.Geometry(self.t0_h, period_d, self.a_rs, self.inc_deg)


def truth_light_curves(
    t_h: np.ndarray,
    truth: VisitTruth,
    star: pd.Series,
    depth: np.ndarray,
    wl_um: np.ndarray,
    instrument: str = "FGS1",
) -> np.ndarray:
    """The true transit (len(depth), len(t_h)) of a visit at reported times ``t_h``.

    AIRS-CH0 times are shifted by the visit's clock offset, as :func:`simulate_visit` does.
    """
    shift = truth.timing_offset_s / 3600.0 if instrument == "AIRS-CH0" else 0.0
    ld = scene.limb_coefficients(np.asarray(wl_um), star)
    return scene.light_curves(np.asarray(t_h) + shift, truth.geometry(float(star["P"])), depth, ld)


def column_depths(spectrum: np.ndarray) -> np.ndarray:
    """Depth per AIRS detector column (356,): column c holds bin wl_(2 + 320 - c)."""
    cols = np.clip(np.arange(356), 39, 320)
    return spectrum[1 + 320 - cols]


def pair_times(times_h: np.ndarray, time_scale: int) -> np.ndarray:
    """Indices of the frames kept: every ``time_scale``-th start/end pair."""
    pairs = np.arange(0, times_h.size // 2, time_scale)
    return np.stack([2 * pairs, 2 * pairs + 1], axis=1).ravel()


def flux_factor(star: pd.Series, brightness: float, wl_um: np.ndarray) -> np.ndarray:
    """Stellar photon flux relative to the reference star at ``wl_um``."""
    ts = float(star["Ts"])
    return brightness * scene.planck_photons(wl_um, ts) / scene.planck_photons(wl_um, REF_TS)


def exposure_matched_brightness(star: pd.Series, dmag: float, wl_airs: np.ndarray) -> float:
    """Brightness (Rs/0.871)^2 10^(-0.4 dmag), clipped to [0.3, 2.5], then capped so that no
    wavelength (FGS1 or AIRS) exceeds MAX_FLUX_FACTOR x the reference star's flux."""
    b = float(np.clip((float(star["Rs"]) / REF_RS) ** 2 * 10 ** (-0.4 * dmag), 0.3, 2.5))
    peak = float(np.max(flux_factor(star, b, np.r_[FGS_WL_UM, wl_airs[39:321]])))
    return b * min(1.0, MAX_FLUX_FACTOR / peak)


def _drift_order(rng: np.random.Generator, world: World) -> int:
    return int(rng.integers(world.drift_order_min, world.drift_order_max + 1))


def simulate_visit(
    *,
    star: pd.Series,
    spectrum: np.ndarray,
    maps: dict[str, io.CalibrationMaps],
    axis: io.AxisInfo,
    adc: dict[str, tuple[float, float]],
    seed: Sequence[int],
    time_scale: int = 1,
    wavelengths: np.ndarray,
    brightness: float | None = None,
    world: World | None = None,
    orbit: tuple[float, float] | None = None,
    visit: int = 0,
) -> tuple[dict[str, np.ndarray], VisitTruth]:
    """Simulate one visit: raw uint16 frames per instrument and the truth used.

    ``spectrum`` (283,) is (Rp/Rs)^2 per target bin (the planet's; visits > 0 see it changed
    by unocculted spots); ``maps`` this visit's calibration per instrument; ``axis`` the
    full-size real axes (subsampled by ``time_scale``); ``orbit`` the true (a/Rs, i) of the
    planet (None: drawn here around the star row); ``brightness`` relative to the reference
    star (None: drawn from Rs and a random magnitude offset).
    """
    world = World.from_mapping(None) if world is None else world
    rng = np.random.default_rng(np.random.SeedSequence(list(seed)))
    k = 1.0 / np.sqrt(time_scale)
    t0_h = scene.draw_t0(rng)
    a_rs, inc = scene.draw_orbit(rng, star, world) if orbit is None else orbit
    geometry = scene.Geometry(t0_h, float(star["P"]), a_rs, inc)
    offset_s = float(world.timing_offset_s * rng.standard_normal())
    dmag = rng.normal(0.0, 0.35)
    wl_airs = axis.airs_wavelength_um
    if brightness is None:
        brightness = exposure_matched_brightness(star, dmag, wl_airs)
    filling = abs(float(world.visit_spot_change * rng.standard_normal())) if visit > 0 else 0.0
    ts = float(star["Ts"])
    spectrum = spectrum * scene.spot_depth_factor(np.r_[FGS_WL_UM, wavelengths[1:]], ts, filling)

    # ---- time axes of the kept frames (pair mid-times) and the pointing/breathing series
    fgs_idx, airs_idx = (
        pair_times(axis.fgs_time_h, time_scale),
        pair_times(axis.airs_time_h, time_scale),
    )
    t_fgs = axis.fgs_time_h[fgs_idx].reshape(-1, 2).mean(1)
    t_airs = axis.airs_time_h[airs_idx].reshape(-1, 2).mean(1)
    t_start = float(min(axis.fgs_time_h.min(), axis.airs_time_h.min()))
    pointing = det.pointing_jitter(rng, t_fgs * 3600.0, time_scale, world.psf_breathing)

    # ---- systematics: drift per instrument, ramps, granulation
    order_f = _drift_order(rng, world)
    order_a = order_f if not world.drift_per_instrument else _drift_order(rng, world)
    amp_a = float(rng.uniform(*det.DRIFT_AMPLITUDE))
    amp_f = amp_a if not world.drift_per_instrument else float(rng.uniform(*det.DRIFT_AMPLITUDE))
    p_t_fgs = det.random_polynomial(rng, np.r_[0.0, 7.5, t_fgs], order_f)[2:]
    p_w = det.random_polynomial(rng, np.r_[wavelengths[0], wl_airs])
    if world.drift_per_instrument:
        p_t_airs = det.random_polynomial(rng, np.r_[0.0, 7.5, t_airs], order_a)[2:]
        p_w_fgs = 1.0
    else:
        p_t_airs, p_w_fgs = np.interp(t_airs, t_fgs, p_t_fgs), float(p_w[0])
    ramps = [
        det.exposure_ramp(
            t - t_start, rng.uniform(0, 2 * world.ramp_amplitude), rng.uniform(*det.RAMP_TAU_H)
        )
        for t in (t_fgs, t_airs)
    ]
    gran_f = scene.granulation(rng, t_fgs * 3600.0, world.granulation_ppm)
    gran_a = np.interp(t_airs, t_fgs, gran_f)
    resets = {i: rng.normal(*det.RESET_OFFSET, size=maps[i].dark.shape) for i in maps}
    track = world.cosmic_track_px

    frames: dict[str, np.ndarray] = {}
    # ---- FGS1
    ld_f = scene.limb_coefficients(np.array([FGS_WL_UM]), star)
    lc = scene.light_curves(t_fgs, geometry, spectrum[:1], ld_f)[0]
    flux = FGS_REF_RATE * float(flux_factor(star, brightness, np.array([FGS_WL_UM]))[0])
    gran_scale_f = float(scene.granulation_scale(FGS_WL_UM))
    series = flux * lc * (1 + gran_f * gran_scale_f) * (1 + amp_f * p_t_fgs * p_w_fgs) * ramps[0]
    model = det.ReadModel(
        maps["FGS1"], det.FGS_DT, *adc["FGS1"], noise_scale=k, reset=resets["FGS1"], track_px=track
    )
    frames["FGS1"] = det.render(
        rng,
        series.size,
        model,
        lambda s: (
            maps["FGS1"].flat
            * (
                series[s, None, None] * det.fgs_psf(pointing[s, 0], pointing[s, 1], pointing[s, 2])
                + det.FGS_BACKGROUND
            )
        ),
    )

    # ---- AIRS-CH0: light curves of the 282 spectral columns (the others copy the edge ones)
    ref = pd.read_csv(REFERENCE_FLUX)["cds_flux_counts"].to_numpy()
    col_flux = ref / AIRS_CDS_REF_S * flux_factor(star, brightness, wl_airs)
    depth_cols = column_depths(spectrum)
    cols = np.clip(np.arange(356), 39, 320)
    ld_a = scene.limb_coefficients(wl_airs[39:321], star)
    t_true = t_airs + offset_s / 3600.0
    lc_airs = scene.light_curves(t_true, geometry, depth_cols[39:321], ld_a)[cols - 39]
    gran_scale_a = scene.granulation_scale(wl_airs)
    spec_t = (
        col_flux[:, None]
        * lc_airs
        * (1 + gran_a[None, :] * gran_scale_a[:, None])
        * (1 + amp_a * p_w[1:, None] * p_t_airs[None, :])
        * ramps[1][None, :]
    ).T
    d1, d2 = np.gradient(spec_t, axis=1), np.gradient(np.gradient(spec_t, axis=1), axis=1)
    j_airs = np.stack([np.interp(t_airs, t_fgs, pointing[:, i]) for i in range(3)], axis=1)
    dy, dx = det.AIRS_JITTER_SCALE_Y * j_airs[:, 0], det.AIRS_JITTER_SCALE_X * j_airs[:, 1]
    breath = j_airs[:, 2]
    spec_t = spec_t - dx[:, None] * d1 + 0.5 * dx[:, None] ** 2 * d2  # shift along dispersion
    p0, p1, p2, ps = det.airs_trace_profile(wl_airs)
    scat = det.airs_scatter_fraction(wl_airs) / 32.0
    model = det.ReadModel(
        maps["AIRS-CH0"], det.AIRS_DT, *adc["AIRS-CH0"], noise_scale=k,
        reset=resets["AIRS-CH0"], track_px=track,
    )  # fmt: skip

    def airs_rate(s: slice) -> np.ndarray:
        y, b = dy[s, None, None], breath[s, None, None]
        prof = p0 + y * p1 + 0.5 * y**2 * p2 + b * ps + scat
        return maps["AIRS-CH0"].flat * (spec_t[s, None, :] * prof + det.AIRS_BACKGROUND)

    frames["AIRS-CH0"] = det.render(rng, t_airs.size, model, airs_rate)
    truth = VisitTruth(
        t0_h=t0_h,
        drift_amplitude=amp_a,
        airs_columns_depth=depth_cols,
        pointing=pointing,
        a_rs=a_rs,
        inc_deg=inc,
        timing_offset_s=offset_s,
        fgs_drift_amplitude=amp_f,
        drift_order_fgs=order_f,
        drift_order_airs=order_a,
        spot_filling=filling,
        fgs_depth=float(spectrum[0]),
    )
    return frames, truth
