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


# --------------------------------------------------------------------------- FitPrior
def _measurements(rng, n, truth):
    """Per planet {key: (value, sd)}: value = mean + pop_sd z + sd e; one key missing at times."""
    out = []
    for i in range(n):
        m = {}
        for k, (mu, s_pop) in truth.items():
            sd = rng.uniform(0.5, 2.0) * s_pop
            if k == "ld_airs_u2" and i % 3 == 0:
                continue  # a fit that did not constrain it
            m[k] = (mu + s_pop * rng.normal() + sd * rng.normal(), sd)
        out.append(m)
    return out


def test_learn_prior_recovers_each_population_and_the_fallback_spectrum():
    rng = np.random.default_rng(3)
    truth = {k: (0.01 * (j + 1), 0.02 * (j + 1)) for j, k in enumerate(pop.PRIOR_KEYS)}
    labels = 0.01 + 0.002 * rng.normal(size=(50, 283))
    prior = pop.learn_prior(_measurements(rng, 1500, truth), labels)
    assert prior.source == "train"
    for k, (mu, s_pop) in truth.items():
        assert prior.mean[k] == pytest.approx(mu, abs=0.15 * s_pop), k
        assert prior.sd[k] == pytest.approx(s_pop, rel=0.15), k
    assert prior.n_planets["ld_airs_u2"] == 1000 and prior.n_planets["d_inc_deg"] == 1500
    np.testing.assert_allclose(prior.fallback_mu, labels.mean(axis=0))
    np.testing.assert_allclose(prior.fallback_sigma, labels.std(axis=0, ddof=1))


def test_learned_sd_is_the_mean_uncertainty_where_the_population_has_no_spread():
    """No spread beyond the errors: the prior sd is the uncertainty of the population mean,
    sd_i / sqrt(n) (4x wider with 16x fewer planets), not zero and not the measurement sd."""
    rng = np.random.default_rng(4)
    for n in (1600, 100):
        ms = [{k: (0.0 + 0.1 * rng.normal(), 0.1) for k in pop.PRIOR_KEYS} for _ in range(n)]
        prior = pop.learn_prior(ms, np.ones((3, 283)))
        for k in pop.PRIOR_KEYS:
            assert prior.sd[k] >= 0.1 / np.sqrt(n) - 1e-12, (n, k)
            # nothing like 0.1 itself: at most the chance excess spread of n points
            assert prior.sd[k] < 0.1 * 1.5 * (2 / n) ** 0.25 + 0.1 / np.sqrt(n), (n, k)


def test_learn_prior_needs_two_measurements_of_every_key():
    ms = [{k: (0.0, 0.1) for k in pop.PRIOR_KEYS if k != "d_inc_deg"}] * 5
    ms[0] = {k: (0.0, 0.1) for k in pop.PRIOR_KEYS}
    with pytest.raises(ValueError, match="'d_inc_deg': 1 train fits measured it"):
        pop.learn_prior(ms, np.ones((3, 283)))
    broad = pop.broad_prior(0.2, 2.0, 0.3, 0.05)
    prior = pop.learn_prior(ms, np.ones((3, 283)), broad)  # a tiny train split: kept broad
    assert (prior.mean["d_inc_deg"], prior.sd["d_inc_deg"]) == (0.0, 2.0)
    assert prior.n_planets["d_inc_deg"] == 1 and prior.n_planets["ln_sma_ratio"] == 5
    assert prior.sd["ln_sma_ratio"] < 0.2  # the measured ones are learned


def test_fit_prior_round_trips_and_refuses_bad_files(tmp_path):
    rng = np.random.default_rng(5)
    truth = {k: (0.0, 0.05) for k in pop.PRIOR_KEYS}
    prior = pop.learn_prior(_measurements(rng, 50, truth), rng.normal(size=(4, 283)))
    path = tmp_path / "population.json"
    prior.to_json(path)
    back = pop.FitPrior.from_json(path)
    assert back.mean == prior.mean and back.sd == prior.sd and back.n_planets == prior.n_planets
    np.testing.assert_array_equal(back.fallback_sigma, prior.fallback_sigma)
    broad = pop.broad_prior(0.2, 2.0, 0.3, 0.05)
    assert broad.fallback_mu is None and broad.sd["d_inc_deg"] == 2.0
    assert pop.FitPrior.from_dict(broad.to_dict()).fallback_mu is None
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="bad.json: not a physics prior"):
        pop.FitPrior.from_json(tmp_path / "bad.json")
    d = prior.to_dict()
    d["sd"]["ln_sma_ratio"] = 0.0
    (tmp_path / "zero.json").write_text(__import__("json").dumps(d))
    with pytest.raises(ValueError, match="zero.json: prior 'ln_sma_ratio'.*sd > 0"):
        pop.FitPrior.from_json(tmp_path / "zero.json")
