"""NeurIPS 2025 Ariel Data Challenge metric and scoring diagnostics.

The challenge scores a submission of per-planet transmission spectra ``mu`` and
uncertainties ``sigma`` (283 bins: bin 0 is the FGS1 white-light point ``wl_1``,
bins 1..282 are AIRS-CH0 ``wl_2..wl_283``) with a normalised Gaussian
log-likelihood.

For every element (planet ``i``, bin ``j``)::

    L(y; m, s)  = -0.5*log(2*pi) - log(s) - 0.5*((y - m)/s)**2
    L_pred      = L(y; mu, max(sigma, 1e-15))
    L_true      = L(y; y, sigma_true_j)        sigma_true = 1e-6 (bin 0), 1e-5 (bins 1..282)
    L_naive     = L(y; naive_mean, naive_sigma)
    r_ij        = (L_pred - L_naive) / (L_true - L_naive)

and the submission score is the weighted average of the ``r_ij``, every element of
bin 0 carrying weight ``fgs_weight = 57.846`` and every other element weight 1,
clipped to ``[0, 1]``::

    score = clip(sum_ij w_j * r_ij / sum_ij w_j, 0, 1)

This is the reduction of the official Kaggle scorer (``ind_scores = (GLL_pred -
GLL_mean) / (GLL_true - GLL_mean)`` followed by ``np.average(ind_scores,
weights=weights)``): each element is normalised by its *own* reference range before
averaging.  It is not the ratio of pooled sums ``(sum w L - sum w L_naive) / (sum w
L_true - sum w L_naive)``; the two differ whenever the per-element ranges
``L_true - L_naive`` differ (they always do: ``sigma_true`` differs between FGS1 and
AIRS and ``L_naive`` depends on ``y``).

``naive_mean`` and ``naive_sigma`` are single numbers: the mean and (population)
standard deviation of all training label values (:func:`naive_stats`).

Inputs are validated strictly; every problem raises :class:`MetricError` (a
``ValueError``) naming the array and the number of bad values.  Like the official
scorer, negative ``mu`` or ``sigma`` are rejected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from spectramind.constants import (
    FGS_WEIGHT,
    N_BINS,
    PPM,
    SIGMA_FLOOR,
    SIGMA_TRUE_AIRS,
    SIGMA_TRUE_FGS,
)

__all__ = [
    "FGS_WEIGHT",
    "N_BINS",
    "SIGMA_FLOOR",
    "SIGMA_TRUE_AIRS",
    "SIGMA_TRUE_FGS",
    "AlignedArrays",
    "MetricError",
    "align",
    "challenge_score",
    "coverage",
    "frame_to_arrays",
    "gaussian_log_likelihood",
    "naive_stats",
    "per_bin_scores",
    "rmse_ppm",
    "score_report",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_MAX_LISTED_IDS = 5


class MetricError(ValueError):
    """Invalid input to a metric function (shape, dtype, NaN/inf, negative values, ...)."""


class AlignedArrays(NamedTuple):
    """Truth and prediction arrays aligned row by row on ``planet_id``.

    Attributes
    ----------
    planet_ids : np.ndarray, shape (n_planets,)
        Planet ids, in the order of the truth frame.
    y_true : np.ndarray, shape (n_planets, n_bins)
        Ground-truth spectra.
    mu : np.ndarray, shape (n_planets, n_bins)
        Predicted spectra.
    sigma : np.ndarray, shape (n_planets, n_bins)
        Predicted uncertainties.
    """

    planet_ids: np.ndarray
    y_true: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray


# --------------------------------------------------------------------------- validation


def _as_float_array(x: object, name: str) -> np.ndarray:
    """Convert ``x`` to a float64 array, rejecting non-numeric or complex input."""
    if isinstance(x, (pd.DataFrame, pd.Series)):
        raise MetricError(
            f"{name} must be a numpy array, not a pandas {type(x).__name__}; "
            "use frame_to_arrays()/align() to convert frames"
        )
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise MetricError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _check_scalar(value: object, name: str, *, positive: bool = False) -> float:
    """Return ``value`` as a finite float (strictly positive if ``positive``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise MetricError(f"{name} must be a real number, got {type(value).__name__}")
    if isinstance(value, np.complexfloating):
        raise MetricError(f"{name} must be a real number, got complex")
    out = float(value)
    if not math.isfinite(out):
        raise MetricError(f"{name} must be finite, got {out}")
    if positive and out <= 0.0:
        raise MetricError(f"{name} must be > 0, got {out}")
    return out


def _check_triplet(
    y_true: object, mu: object, sigma: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_check_arrays` when ``sigma`` is required."""
    y, m, s = _check_arrays(y_true, mu, sigma)
    if s is None:
        raise MetricError("sigma is required")
    return y, m, s


def _check_arrays(
    y_true: object, mu: object, sigma: object | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate ``(n_planets, 283)`` truth/prediction arrays; return them as float64."""
    arrays = {"y_true": _as_float_array(y_true, "y_true"), "mu": _as_float_array(mu, "mu")}
    if sigma is not None:
        arrays["sigma"] = _as_float_array(sigma, "sigma")

    problems: list[str] = []
    for name, arr in arrays.items():
        if arr.ndim != 2 or arr.shape[1] != N_BINS:
            problems.append(f"{name} must have shape (n_planets, {N_BINS}), got {arr.shape}")
        elif arr.shape[0] == 0:
            problems.append(f"{name} has no rows (n_planets must be >= 1)")
    if problems:
        raise MetricError("; ".join(problems))
    shapes = {name: arr.shape for name, arr in arrays.items()}
    if len(set(shapes.values())) != 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise MetricError(f"shape mismatch: {listed}")

    for name, arr in arrays.items():
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        if n_bad:
            problems.append(f"{name} contains {n_bad} non-finite value(s) (NaN or inf)")
            continue
        if name != "y_true":
            n_neg = int(np.count_nonzero(arr < 0.0))
            if n_neg:
                problems.append(
                    f"{name} contains {n_neg} negative value(s); "
                    "the challenge rejects negative submissions"
                )
    if problems:
        raise MetricError("; ".join(problems))
    return arrays["y_true"], arrays["mu"], arrays.get("sigma")


# --------------------------------------------------------------------------- core maths


def naive_stats(labels: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of all training label values.

    These are the single-number "naive" reference prediction of the challenge
    metric (the official scorer uses ``train.values.mean()`` and ``.std()``, i.e.
    the population standard deviation, ``ddof=0``).

    Parameters
    ----------
    labels : np.ndarray, shape (n_planets, n_bins) or any shape
        Training label values (transit depths) *without* the ``planet_id`` column;
        use ``frame_to_arrays(train_df)[1]`` for a label frame.

    Returns
    -------
    (naive_mean, naive_sigma) : tuple of float
        Mean and population standard deviation over every value.

    Raises
    ------
    MetricError
        If ``labels`` is a pandas object, empty, non-numeric, contains NaN/inf, or
        has zero spread (``naive_sigma == 0`` would make the metric undefined).
    """
    arr = _as_float_array(labels, "labels")
    if arr.size == 0:
        raise MetricError("labels is empty")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise MetricError(f"labels contains {n_bad} non-finite value(s) (NaN or inf)")
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.mean(arr))
        std = float(np.std(arr))
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise MetricError("labels are too large in magnitude: mean/std overflowed")
    # np.std of a constant array can be a rounding-error-sized positive number
    if std <= 0.0 or float(np.min(arr)) == float(np.max(arr)):
        raise MetricError("labels have zero standard deviation; naive_sigma must be > 0")
    return mean, std


def gaussian_log_likelihood(
    y: np.ndarray | float, mu: np.ndarray | float, sigma: np.ndarray | float
) -> np.ndarray:
    """Elementwise Gaussian log-density ``log N(y; mu, sigma)``.

    ``-0.5*log(2*pi) - log(s) - 0.5*((y - mu)/s)**2`` with ``s = max(sigma, 1e-15)``,
    exactly as the official scorer clips the predicted sigma.  No validation is done:
    NaN propagates, and overflow of the squared residual gives ``-inf`` (silently).

    Parameters
    ----------
    y, mu, sigma : array_like, mutually broadcastable shapes
        Observations, means and standard deviations.

    Returns
    -------
    np.ndarray, float64, broadcast shape of the inputs
        Log-likelihood of every element.
    """
    y_arr = np.asarray(y, dtype=np.float64)
    mu_arr = np.asarray(mu, dtype=np.float64)
    s = np.maximum(np.asarray(sigma, dtype=np.float64), SIGMA_FLOOR)
    with np.errstate(over="ignore", invalid="ignore"):
        z = (y_arr - mu_arr) / s
        return -_LOG_SQRT_2PI - np.log(s) - 0.5 * (z * z)


def _sigma_true_row(sigma_true_fgs: float, sigma_true_airs: float) -> np.ndarray:
    row = np.full(N_BINS, sigma_true_airs, dtype=np.float64)
    row[0] = sigma_true_fgs
    return row


def _element_scores(
    y_true: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    *,
    naive_mean: float,
    naive_sigma: float,
    sigma_true_fgs: float,
    sigma_true_airs: float,
) -> np.ndarray:
    """Normalised per-element scores ``r_ij``, shape (n_planets, 283), on validated input.

    Elements may be ``-inf`` (the prediction's log-likelihood overflowed: infinitely
    bad), never NaN or ``+inf`` (those raise :class:`MetricError`).
    """
    naive_mean = _check_scalar(naive_mean, "naive_mean")
    naive_sigma = _check_scalar(naive_sigma, "naive_sigma", positive=True)
    sigma_true_fgs = _check_scalar(sigma_true_fgs, "sigma_true_fgs", positive=True)
    sigma_true_airs = _check_scalar(sigma_true_airs, "sigma_true_airs", positive=True)

    l_pred = gaussian_log_likelihood(y_true, mu, sigma)
    sigma_true = _sigma_true_row(sigma_true_fgs, sigma_true_airs)
    l_true = gaussian_log_likelihood(y_true, y_true, sigma_true)
    l_naive = gaussian_log_likelihood(y_true, naive_mean, naive_sigma)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        numerator = l_pred - l_naive
        denominator = l_true - l_naive
        n_bad_den = int(np.count_nonzero(~(denominator > 0.0)))
        if n_bad_den:
            raise MetricError(
                f"reference range L_true - L_naive is <= 0 for {n_bad_den} element(s): "
                "the naive model is as good as the perfect one there "
                f"(naive_sigma={naive_sigma!r} too small relative to sigma_true?)"
            )
        ratio = numerator / denominator
    n_undefined = int(np.count_nonzero(np.isnan(ratio) | (ratio == np.inf)))
    if n_undefined:
        raise MetricError(
            f"normalised score is undefined (NaN/+inf after overflow) for {n_undefined} "
            "element(s): y_true, mu, sigma or the naive statistics are too extreme in "
            "magnitude"
        )
    return ratio


def _bin_weights(fgs_weight: float) -> np.ndarray:
    weights = np.ones(N_BINS, dtype=np.float64)
    weights[0] = _check_scalar(fgs_weight, "fgs_weight", positive=True)
    return weights


def _weighted_average(ratio: np.ndarray, fgs_weight: float) -> float:
    weights = np.broadcast_to(_bin_weights(fgs_weight), ratio.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        raw = float(np.average(ratio, weights=weights))
    if math.isnan(raw):  # only reachable through overflow of the sum
        raise MetricError("score is undefined (NaN): inputs are too extreme in magnitude")
    return raw


def challenge_score(
    y_true: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    *,
    naive_mean: float,
    naive_sigma: float,
    fgs_weight: float = FGS_WEIGHT,
    sigma_true_fgs: float = SIGMA_TRUE_FGS,
    sigma_true_airs: float = SIGMA_TRUE_AIRS,
    clip: bool = True,
) -> float:
    """Official Ariel Data Challenge 2025 score (higher is better, 1 = perfect).

    ``clip(sum_ij w_j r_ij / sum_ij w_j, 0, 1)`` with the per-element normalised
    log-likelihood ``r_ij = (L_pred - L_naive) / (L_true - L_naive)``, ``w_0 =
    fgs_weight`` and ``w_j = 1`` for ``j >= 1`` (see the module docstring).

    Parameters
    ----------
    y_true : np.ndarray, shape (n_planets, 283)
        Ground-truth spectra; finite.
    mu : np.ndarray, shape (n_planets, 283)
        Predicted spectra; finite and >= 0.
    sigma : np.ndarray, shape (n_planets, 283)
        Predicted uncertainties; finite and >= 0 (clipped below at 1e-15).
    naive_mean, naive_sigma : float
        Mean and std of all training labels (:func:`naive_stats`); ``naive_sigma > 0``.
    fgs_weight : float, default 57.846
        Weight of each bin-0 (FGS1) element; every AIRS element weighs 1.
    sigma_true_fgs, sigma_true_airs : float, default 1e-6 and 1e-5
        Reference uncertainties of the "perfect" prediction for bin 0 / bins 1..282.
    clip : bool, default True
        Clip to ``[0, 1]`` as the challenge does.  ``False`` returns the raw weighted
        average (may be negative, even ``-inf``; it is <= 1 whenever every predicted
        sigma is >= the matching ``sigma_true``).

    Returns
    -------
    float
        The score.

    Raises
    ------
    MetricError
        On a wrong shape, non-numeric dtype, NaN/inf anywhere, negative ``mu`` or
        ``sigma``, invalid scalars, or a numerically undefined score.
    """
    y_true, mu, sigma = _check_triplet(y_true, mu, sigma)
    ratio = _element_scores(
        y_true,
        mu,
        sigma,
        naive_mean=naive_mean,
        naive_sigma=naive_sigma,
        sigma_true_fgs=sigma_true_fgs,
        sigma_true_airs=sigma_true_airs,
    )
    raw = _weighted_average(ratio, fgs_weight)
    return float(np.clip(raw, 0.0, 1.0)) if clip else raw


def per_bin_scores(
    y_true: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    *,
    naive_mean: float,
    naive_sigma: float,
    sigma_true_fgs: float = SIGMA_TRUE_FGS,
    sigma_true_airs: float = SIGMA_TRUE_AIRS,
) -> np.ndarray:
    """Unclipped score of each bin: the challenge formula restricted to one column.

    ``per_bin[j] = mean_i r_ij``.  The unclipped challenge score equals
    ``np.average(per_bin, weights=[fgs_weight, 1, ..., 1])``.

    Parameters
    ----------
    y_true, mu, sigma : np.ndarray, shape (n_planets, 283)
        As for :func:`challenge_score`.
    naive_mean, naive_sigma, sigma_true_fgs, sigma_true_airs : float
        As for :func:`challenge_score`.

    Returns
    -------
    np.ndarray, shape (283,)
        Per-bin scores, not clipped (may be negative or ``-inf``).

    Raises
    ------
    MetricError
        As for :func:`challenge_score`.
    """
    y_true, mu, sigma = _check_triplet(y_true, mu, sigma)
    ratio = _element_scores(
        y_true,
        mu,
        sigma,
        naive_mean=naive_mean,
        naive_sigma=naive_sigma,
        sigma_true_fgs=sigma_true_fgs,
        sigma_true_airs=sigma_true_airs,
    )
    with np.errstate(over="ignore", invalid="ignore"):
        return np.mean(ratio, axis=0)


# --------------------------------------------------------------------------- diagnostics


def coverage(y_true: np.ndarray, mu: np.ndarray, sigma: np.ndarray, k: float) -> float:
    """Fraction of elements with ``|y_true - mu| <= k * sigma``.

    ``sigma`` is used as given (not clipped), so ``sigma == 0`` only covers exact hits.
    For calibrated Gaussian errors the expected values are ~0.683 (k=1), ~0.954 (k=2).

    Parameters
    ----------
    y_true, mu, sigma : np.ndarray, shape (n_planets, 283)
        As for :func:`challenge_score`.
    k : float
        Interval half-width in units of sigma; finite and >= 0.

    Returns
    -------
    float
        Covered fraction in ``[0, 1]``.
    """
    y_true, mu, sigma = _check_triplet(y_true, mu, sigma)
    k = _check_scalar(k, "k")
    if k < 0.0:
        raise MetricError(f"k must be >= 0, got {k}")
    with np.errstate(over="ignore", invalid="ignore"):
        covered = np.abs(y_true - mu) <= k * sigma
    return float(np.mean(covered))


def rmse_ppm(y_true: np.ndarray, mu: np.ndarray) -> dict[str, float]:
    """Root-mean-square error of ``mu`` in ppm, separately for FGS1 and AIRS.

    Parameters
    ----------
    y_true, mu : np.ndarray, shape (n_planets, 283)
        Ground truth and prediction (fractional transit depth).

    Returns
    -------
    dict
        ``rmse_fgs_ppm``: RMSE over bin 0; ``rmse_airs_ppm``: RMSE over bins 1..282
        (pooled over all planets and bins); both multiplied by 1e6.
    """
    y_true, mu, _ = _check_arrays(y_true, mu)
    with np.errstate(over="ignore", invalid="ignore"):
        residual = y_true - mu
        fgs = math.sqrt(float(np.mean(residual[:, 0] ** 2))) * PPM
        airs = math.sqrt(float(np.mean(residual[:, 1:] ** 2))) * PPM
    return {"rmse_fgs_ppm": fgs, "rmse_airs_ppm": airs}


def score_report(
    y_true: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    *,
    naive_mean: float,
    naive_sigma: float,
) -> dict[str, object]:
    """Challenge score plus diagnostics, as plain (JSON-serialisable) Python values.

    Parameters
    ----------
    y_true, mu, sigma : np.ndarray, shape (n_planets, 283)
        As for :func:`challenge_score`.
    naive_mean, naive_sigma : float
        As for :func:`challenge_score`.

    Returns
    -------
    dict
        ``score`` (float, clipped challenge score with default weights),
        ``score_unclipped`` (the same before the clip to [0, 1]: it still orders methods
        that all score 0), ``rmse_fgs_ppm``, ``rmse_airs_ppm`` (float), ``coverage_1sigma``,
        ``coverage_2sigma`` (float), ``n_planets`` (int) and ``per_bin`` (list of 283
        floats, unclipped; ``-inf`` only for overflowing inputs).
    """
    y_true, mu, sigma = _check_triplet(y_true, mu, sigma)
    ratio = _element_scores(
        y_true,
        mu,
        sigma,
        naive_mean=naive_mean,
        naive_sigma=naive_sigma,
        sigma_true_fgs=SIGMA_TRUE_FGS,
        sigma_true_airs=SIGMA_TRUE_AIRS,
    )
    raw = _weighted_average(ratio, FGS_WEIGHT)
    with np.errstate(over="ignore", invalid="ignore"):
        per_bin = np.mean(ratio, axis=0)
    report: dict[str, object] = {"score": float(np.clip(raw, 0.0, 1.0)), "score_unclipped": raw}
    report.update(rmse_ppm(y_true, mu))
    report["coverage_1sigma"] = coverage(y_true, mu, sigma, 1.0)
    report["coverage_2sigma"] = coverage(y_true, mu, sigma, 2.0)
    report["n_planets"] = int(y_true.shape[0])
    report["per_bin"] = [float(v) for v in per_bin]
    return report


# --------------------------------------------------------------------------- frames


def _expected_columns(n_bins: int, with_sigma: bool) -> list[str]:
    cols = ["planet_id"] + [f"wl_{j}" for j in range(1, n_bins + 1)]
    if with_sigma:
        cols += [f"sigma_{j}" for j in range(1, n_bins + 1)]
    return cols


def _preview(items: Sequence[object]) -> str:
    shown = ", ".join(repr(x) for x in items[:_MAX_LISTED_IDS])
    more = len(items) - _MAX_LISTED_IDS
    return f"[{shown}{f', ... (+{more} more)' if more > 0 else ''}]"


def frame_to_arrays(
    df: pd.DataFrame, n_bins: int = N_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Split a label or submission frame into ``(planet_ids, mu, sigma)``.

    Accepted layouts (exact names, exact order):

    * label format: ``planet_id, wl_1 .. wl_{n_bins}``  -> ``sigma`` is ``None``;
    * submission format: ``planet_id, wl_1 .. wl_{n_bins}, sigma_1 .. sigma_{n_bins}``.

    ``planet_id`` may also be the (named) index, as after ``read_csv(index_col=0)``.
    Values are only converted here, not range-checked; the scoring functions do that.

    Parameters
    ----------
    df : pd.DataFrame, shape (n_planets, 1 + n_bins) or (n_planets, 1 + 2*n_bins)
        The frame.
    n_bins : int, default 283
        Number of spectral bins.

    Returns
    -------
    planet_ids : np.ndarray, shape (n_planets,)
        The ``planet_id`` column (dtype as stored).
    mu : np.ndarray, float64, shape (n_planets, n_bins)
        The ``wl_*`` columns (for a label frame: the true spectra).
    sigma : np.ndarray, float64, shape (n_planets, n_bins), or None
        The ``sigma_*`` columns, ``None`` for a label frame.

    Raises
    ------
    MetricError
        Naming missing, extra, duplicated or out-of-order columns, or non-numeric values.
    """
    if not isinstance(df, pd.DataFrame):
        raise MetricError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise MetricError(f"n_bins must be a positive integer, got {n_bins!r}")
    n_bins = int(n_bins)
    if "planet_id" not in df.columns and df.index.name == "planet_id":
        df = df.reset_index()

    columns = [str(c) for c in df.columns]
    with_sigma = any(c.startswith("sigma_") for c in columns)
    expected = _expected_columns(n_bins, with_sigma)
    if columns != expected:
        kind = "submission" if with_sigma else "label"
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        missing = [c for c in expected if c not in set(columns)]
        extra = [c for c in columns if c not in set(expected)]
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} column(s) {_preview(missing)}")
        if extra:
            parts.append(f"extra {len(extra)} column(s) {_preview(extra)}")
        if duplicated:
            parts.append(f"duplicated column(s) {_preview(duplicated)}")
        if not parts:
            pos = next(i for i, (a, b) in enumerate(zip(columns, expected, strict=True)) if a != b)
            parts.append(
                f"columns out of order: position {pos} is {columns[pos]!r}, "
                f"expected {expected[pos]!r}"
            )
        raise MetricError(
            f"{kind} frame must have columns planet_id, wl_1..wl_{n_bins}"
            + (f", sigma_1..sigma_{n_bins}" if with_sigma else "")
            + ": "
            + "; ".join(parts)
        )

    def numeric(start: int, what: str) -> np.ndarray:
        block = df.iloc[:, start : start + n_bins]
        bad = [str(c) for c, dt in block.dtypes.items() if not _is_real_dtype(dt)]
        if bad:
            raise MetricError(f"{what} column(s) are not real numbers: {_preview(bad)}")
        return block.to_numpy(dtype=np.float64, na_value=np.nan)

    planet_ids = df.iloc[:, 0].to_numpy()
    mu = numeric(1, "wl")
    sigma = numeric(1 + n_bins, "sigma") if with_sigma else None
    return planet_ids, mu, sigma


def _is_real_dtype(dtype: object) -> bool:
    return (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
    )


def align(
    truth_df: pd.DataFrame, pred_df: pd.DataFrame, *, allow_extra: bool = False
) -> AlignedArrays:
    """Join a label frame and a submission frame on ``planet_id``.

    Parameters
    ----------
    truth_df : pd.DataFrame, shape (n_planets, 284)
        Label format (``planet_id, wl_1..wl_283``).
    pred_df : pd.DataFrame, shape (n_pred, 567)
        Submission format (``planet_id, wl_1..wl_283, sigma_1..sigma_283``), any row order.
    allow_extra : bool, default False
        If True, prediction rows for planets absent from ``truth_df`` are dropped
        (e.g. scoring one validation fold); otherwise they are an error.

    Returns
    -------
    AlignedArrays
        ``(planet_ids, y_true, mu, sigma)``, each array with ``n_planets`` rows in the
        order of ``truth_df``.

    Raises
    ------
    MetricError
        If either frame has the wrong columns, ``truth_df`` is a submission frame or
        ``pred_df`` a label frame, a planet id is duplicated in either frame, a truth
        planet has no prediction, or (unless ``allow_extra``) a prediction has no truth.
    """
    truth_ids, y_true, truth_sigma = frame_to_arrays(truth_df)
    if truth_sigma is not None:
        raise MetricError("truth_df must be in label format (no sigma_* columns)")
    pred_ids, mu, sigma = frame_to_arrays(pred_df)
    if sigma is None:
        raise MetricError("pred_df must be in submission format (with sigma_1..sigma_283)")

    truth_index = pd.Index(truth_ids)
    pred_index = pd.Index(pred_ids)
    problems = []
    for name, index in (("truth_df", truth_index), ("pred_df", pred_index)):
        if index.has_duplicates:
            dup = index[index.duplicated()].unique().tolist()
            problems.append(f"{name} has {len(dup)} duplicated planet_id(s) {_preview(dup)}")
    if problems:
        raise MetricError("; ".join(problems))

    missing = truth_index.difference(pred_index, sort=False).tolist()
    if missing:
        problems.append(f"pred_df is missing {len(missing)} planet(s) {_preview(missing)}")
    extra = pred_index.difference(truth_index, sort=False).tolist()
    if extra and not allow_extra:
        problems.append(
            f"pred_df has {len(extra)} planet(s) not in truth_df {_preview(extra)} "
            "(pass allow_extra=True to drop them)"
        )
    if problems:
        raise MetricError("; ".join(problems))

    rows = pred_index.get_indexer(truth_index)
    return AlignedArrays(truth_ids, y_true, mu[rows], sigma[rows])
