"""True transmission spectra: partitioned real shapes plus a parametric atmosphere generator.

A spectrum (283,) = mean depth D + features. The features mix (weight ``w`` =
``World.real_shape_weight``) a real 2024 shape from the planet's OWN split's pool with a shape
from the parametric generator below; both are normalised to unit rms and given the amplitude
rms = A_2024 sqrt(D / d_2024) (H / H_median) lognormal(0, 0.25), A_2024 the median feature rms
of the 2024 shapes and d_2024 their median mean depth, H the planet's scale height. The real
shapes are partitioned once by families (the 2024 set is mostly rescaled copies of two templates:
shapes correlated above 0.98 are one family): train planets draw from one part, test planets
from the other, so no shape is shared between splits, and the parametric part makes every
planet's spectrum unique even where two planets share a real shape.

Parametric generator (a transmission spectrum in the isothermal, constant-opacity-slope
approximation, Lecavelier des Etangs et al. 2008, A&A 481, L83; de Wit & Seager 2013,
Science 342, 1473): the apparent radius changes with the opacity as
R(lambda) = R_0 + H ln kappa(lambda), so the features are proportional to ln kappa_tot with

    kappa_tot = sum_m X_m sum_b s_b exp(-(lambda - c_b)^2 / (2 w_b^2))      molecular bands
              + kappa_R (lambda / 1 um)^-4 (haze: x 10^U(0, 1.5) more)  Rayleigh scattering
              + kappa_c                                                   grey cloud deck

X_m log-uniform over 4 decades per molecule, kappa_c log-uniform from negligible to
dominant (a high cloud deck mutes every band). Band centres (um), relative strength and
width from the strongest bands of the HITRAN/ExoMol cross sections in 0.7-4 um.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components

from spectramind.sim.scene import scale_height_rs

DEPTH_MEAN, DEPTH_STD, DEPTH_RANGE = 0.0147, 0.011, (5e-4, 0.08)
#: shapes whose features correlate above this are one family (the 2024 set is two big
#: families of rescaled templates plus small ones) and go to the same split
FAMILY_CORRELATION = 0.98
TRAIN_SHAPE_FRACTION = 0.5  # target share of the 2024 shapes in the train pool
AMPLITUDE_SCATTER = 0.25  # lognormal sigma of the feature amplitude around the H rule
#: molecule -> bands (centre um, relative strength, width um)
BANDS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "H2O": (
        (0.94, 0.15, 0.03),
        (1.14, 0.3, 0.05),
        (1.4, 0.6, 0.07),
        (1.9, 0.8, 0.09),
        (2.7, 1.0, 0.15),
    ),
    "CH4": ((1.7, 0.3, 0.05), (2.3, 0.6, 0.08), (3.3, 1.0, 0.12)),
    "CO2": ((2.0, 0.3, 0.03), (2.7, 0.6, 0.05)),
    "CO": ((2.35, 0.5, 0.05),),
    "NH3": ((2.0, 0.2, 0.05), (3.0, 0.8, 0.15)),
    "H2S": ((2.6, 0.3, 0.1), (3.7, 0.2, 0.1)),
}
ABUNDANCE_DECADES = 4.0
CONTINUUM = 1e-3  # floor of kappa (relative): keeps ln kappa finite between bands


def shape_families(shapes: np.ndarray, threshold: float = FAMILY_CORRELATION) -> np.ndarray:
    """Family label (n,) of each shape: connected components of |corr(features)| > threshold."""
    f = shapes - shapes.mean(axis=1, keepdims=True)
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-300)
    _, labels = connected_components(np.abs(f @ f.T) > threshold, directed=False)
    return np.asarray(labels)


def partition_shapes(shapes: np.ndarray) -> dict[str, np.ndarray]:
    """Disjoint train/test pools of the 2024 shapes (n, 283), whole families to one side.

    Families (:func:`shape_families`) are assigned largest first to the split furthest below
    its target share, so no shape of one split is a rescaled copy (corr > 0.98) of one of the
    other; deterministic (no random draw).
    """
    labels = shape_families(shapes)
    sizes = np.bincount(labels)
    n = {"train": 0, "test": 0}
    side = {}
    for fam in np.lexsort((np.arange(sizes.size), -sizes)):
        deficit_train = TRAIN_SHAPE_FRACTION * len(shapes) - n["train"]
        deficit_test = (1 - TRAIN_SHAPE_FRACTION) * len(shapes) - n["test"]
        side[fam] = "train" if deficit_train >= deficit_test else "test"
        n[side[fam]] += int(sizes[fam])
    split = np.array([side[lab] for lab in labels])
    return {k: shapes[split == k] for k in ("train", "test")}


def opacity(rng: np.random.Generator, wl_um: np.ndarray) -> np.ndarray:
    """A random relative opacity kappa_tot(lambda) (see module docstring)."""
    wl = np.asarray(wl_um, dtype=float)
    kappa = np.full(wl.shape, CONTINUUM)
    for bands in BANDS.values():
        x = 10.0 ** (-ABUNDANCE_DECADES * rng.uniform())
        for centre, strength, width in bands:
            kappa += x * strength * np.exp(-0.5 * ((wl - centre) / width) ** 2)
    haze = 10.0 ** rng.uniform(0.0, 1.5) if rng.uniform() < 0.3 else 1.0
    kappa += 1e-2 * haze * wl**-4
    kappa += 10.0 ** rng.uniform(-4.0, 0.5)  # grey cloud deck
    return kappa


def parametric_shape(rng: np.random.Generator, wl_um: np.ndarray) -> np.ndarray:
    """Unit-rms, zero-mean feature shape ln kappa_tot(lambda) of a random atmosphere."""
    z = np.log(opacity(rng, wl_um))
    z -= z.mean()
    return z / max(float(z.std()), 1e-12)


def _unit(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    return x / max(float(x.std()), 1e-12)


def draw_depth(rng: np.random.Generator) -> float:
    """Mean transit depth ~ lognormal(mean 0.0147, std 0.011), clipped to DEPTH_RANGE."""
    s_ln = np.sqrt(np.log1p((DEPTH_STD / DEPTH_MEAN) ** 2))
    return float(np.clip(rng.lognormal(np.log(DEPTH_MEAN) - s_ln**2 / 2, s_ln), *DEPTH_RANGE))


def draw_spectrum(
    rng: np.random.Generator,
    pool: np.ndarray,
    star: pd.Series,
    h_median: float,
    wl_um: np.ndarray,
    *,
    real_weight: float,
    ref_rms: float,
    ref_depth: float,
) -> np.ndarray:
    """A spectrum (283,) (module docstring): ``pool`` the 2024 shapes of the planet's split,
    ``ref_rms``/``ref_depth`` the median feature rms and mean depth of all 2024 shapes."""
    shape = pool[rng.integers(len(pool))]
    gen = parametric_shape(rng, wl_um)
    depth = draw_depth(rng)
    h_ratio = np.clip(scale_height_rs(star, depth) / h_median, 0.25, 4.0)
    amp = ref_rms * np.sqrt(depth / ref_depth) * h_ratio * rng.lognormal(0.0, AMPLITUDE_SCATTER)
    features = _unit(real_weight * _unit(shape) + (1.0 - real_weight) * gen)
    return np.clip(depth + amp * features, 1e-5, None)


def reference_statistics(shapes: np.ndarray) -> tuple[float, float]:
    """(median feature rms, median mean depth) of the 2024 shapes (n, 283)."""
    return float(np.median(shapes.std(axis=1))), float(np.median(shapes.mean(axis=1)))
