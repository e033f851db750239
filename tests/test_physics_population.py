"""Tests of :mod:`spectramind.physics.population` on synthetic numbers of a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from spectramind.physics import population as pop


def test_ml_population_deconvolves_each_measurement_error():
    rng = np.random.default_rng(0)
    n, mu, s_pop = 4000, 0.02, 0.03
    sd = rng.uniform(0.01, 0.08, n)  # heteroscedastic errors, often larger than the spread
    x = mu + s_pop * rng.normal(size=n) + sd * rng.normal(size=n)
    m, s = pop.ml_population(x, sd)
    assert m == pytest.approx(mu, abs=3 * 0.0015)
    assert s == pytest.approx(s_pop, rel=0.1)
    assert np.std(x) > 1.5 * s_pop  # the raw spread would have been far off


def test_ml_population_is_zero_when_the_scatter_is_the_errors_alone():
    rng = np.random.default_rng(1)
    sd = np.full(2000, 0.05)
    x = 1.0 + sd * rng.normal(size=2000)
    m, s = pop.ml_population(x, sd)
    assert m == pytest.approx(1.0, abs=0.005)
    assert s < 0.01  # zero within the sampling noise of 2000 points


def test_ml_population_with_exact_measurements_is_the_sample_mean_and_sd():
    x = np.array([1.0, 2.0, 3.0, 6.0])
    m, s = pop.ml_population(x, np.zeros(4))
    assert m == pytest.approx(3.0)
    assert s == pytest.approx(np.std(x), rel=1e-4)  # the ML sd (ddof 0)


def test_ml_population_drops_non_finite_and_refuses_too_few():
    x = np.array([1.0, np.nan, 3.0, 5.0, 100.0])
    sd = np.array([0.0, 0.1, 0.0, 0.0, np.inf])  # the NaN and the infinite-error pair drop out
    m, s = pop.ml_population(x, sd)
    assert m == pytest.approx(3.0) and s == pytest.approx(np.std([1.0, 3.0, 5.0]), rel=1e-4)
    with pytest.raises(ValueError, match="at least 2"):
        pop.ml_population(np.array([1.0, np.nan]), np.array([0.1, 0.1]))
    with pytest.raises(ValueError, match="differ in shape"):
        pop.ml_population(np.ones(3), np.ones(2))


def test_fallback_spectrum_is_the_label_mean_and_sd_per_bin():
    y = np.array([[0.01, 0.02], [0.03, 0.02], [0.05, 0.02]])
    mean, sd = pop.fallback_spectrum(y)
    np.testing.assert_allclose(mean, [0.03, 0.02])
    np.testing.assert_allclose(sd, [0.02, 0.0], atol=1e-15)
    with pytest.raises(ValueError, match="need"):
        pop.fallback_spectrum(y[:1])
