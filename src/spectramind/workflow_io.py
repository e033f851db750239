"""Small readers/writers shared by the workflow scripts (keeps each script a few lines)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spectramind import io, metric


def labels_path(labels_input: str | Path, split: str) -> Path:
    """The labels file of ``split``: given directly, or inside a (simulated) data root."""
    p = Path(labels_input)
    if p.is_dir():
        return p / ("train.csv" if split == "train" else "test_truth.csv")
    return p


def labels_array(labels_input: str | Path, split: str) -> np.ndarray:
    return io.read_labels(labels_path(labels_input, split)).to_numpy(dtype=float)


def truth_for(labels_input: str | Path, split: str, planet_ids: Iterable[int]) -> np.ndarray:
    """Labels (n, 283) in the order of ``planet_ids``; a missing planet is a DataError."""
    path = labels_path(labels_input, split)
    labels = io.read_labels(path)
    ids = list(planet_ids)
    missing = [i for i in ids if i not in labels.index]
    if missing:
        raise io.DataError(path, f"no labels for planets {missing[:5]}")
    return labels.loc[ids].to_numpy(dtype=float)


def load_physics(files: Iterable[str | Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """planet ids, depth (n, 283) and sigma (n, 283) from ``results/physics/*.nc``."""
    ids, mu, sigma = [], [], []
    for f in files:
        with xr.open_dataset(f) as ds:
            ids.append(int(ds.attrs["planet_id"]))
            mu.append(ds["depth"].values)
            sigma.append(ds["depth_sigma"].values)
    if not ids:
        raise ValueError("no physics fits given")
    return np.asarray(ids, dtype=np.int64), np.vstack(mu), np.vstack(sigma)


#: per-planet scalars of the physics products used as recalibration features, when present:
#: (feature, attribute) per instrument (limb darkening and the white-light fit's chi-square)
PHYSICS_SCALARS = {
    "fgs": (("u1", "u1_fgs"), ("u2", "u2_fgs"), ("log_white_chi2", "white_chi2_red")),
    "airs": (("u1", "u1_airs"), ("u2", "u2_airs"), ("log_white_chi2", "white_chi2_red")),
}


def _planet_row(ds: xr.Dataset) -> dict[str, object]:
    row: dict[str, object] = {"flag": str(ds.attrs.get("flag", "ok"))}
    chi2 = ds["chi2_red"].values if "chi2_red" in ds else None
    for g, sl in (("fgs", slice(0, 1)), ("airs", slice(1, None))):
        if chi2 is not None:
            c = chi2[sl]
            c = c[np.isfinite(c) & (c > 0)]
            row[f"{g}.log_chi2"] = float(np.log(np.median(c))) if c.size else np.nan
        for name, attr in PHYSICS_SCALARS[g]:
            v = ds.attrs.get(attr)
            if v is None:
                continue
            v = float(v)
            row[f"{g}.{name}"] = (np.log(v) if v > 0 else np.nan) if name.startswith("log_") else v
    return row


def load_physics_features(files: Iterable[str | Path]) -> dict[str, np.ndarray]:
    """Per-planet recalibration features of ``results/physics/*.nc``, in file order: ``flag``
    (strings) and numeric ``fgs.*`` / ``airs.*`` columns (log median reduced chi-square of the
    spectral fit, limb darkening, log white-light chi-square); a value a file lacks is NaN."""
    rows = []
    for f in files:
        with xr.open_dataset(f) as ds:
            rows.append(_planet_row(ds))
    if not rows:
        raise ValueError("no physics fits given")
    keys = sorted({k for r in rows for k in r})
    out: dict[str, np.ndarray] = {}
    for k in keys:
        if k == "flag":
            out[k] = np.asarray([r["flag"] for r in rows], dtype=str)
        else:
            out[k] = np.asarray([r.get(k, np.nan) for r in rows], dtype=float)
    return out


def score_predictions(
    predictions: str | Path, truth_input: str | Path, split: str, train_labels_input: str | Path
) -> dict:
    """score_report of a submission-format CSV against the split's labels.

    An unreadable file is a :class:`io.DataError`; a readable one with the wrong columns,
    planets or values a :class:`metric.MetricError`; both name the predictions file.
    """
    pred = io._read_csv(predictions)
    # copy() consolidates read_csv's one-block-per-column frame (reset_index on it warns)
    truth = io.read_labels(labels_path(truth_input, split)).copy().reset_index()
    naive_mean, naive_sigma = metric.naive_stats(labels_array(train_labels_input, "train"))
    try:
        a = metric.align(truth, pred)
        return metric.score_report(
            a.y_true, a.mu, a.sigma, naive_mean=naive_mean, naive_sigma=naive_sigma
        )
    except metric.MetricError as exc:
        raise metric.MetricError(f"{predictions}: {exc}") from None


def score_table(files: Iterable[str | Path]) -> pd.DataFrame:
    """One row per score JSON (method, split, score, RMSE, coverage, n_planets)."""
    rows = []
    for f in files:
        d = json.loads(Path(f).read_text())
        rows.append(
            {
                k: d[k]
                for k in (
                    "method",
                    "split",
                    "score",
                    "rmse_fgs_ppm",
                    "rmse_airs_ppm",
                    "coverage_1sigma",
                    "coverage_2sigma",
                    "n_planets",
                )
            }
        )
    return pd.DataFrame(rows).sort_values(["split", "method"]).reset_index(drop=True)


def write_prediction_provenance(
    smk: Any,
    *,
    method: str,
    section: str,
    inputs: Iterable[str | Path],
    section_config: Mapping[str, Any] | None = None,
) -> None:
    """The provenance sidecar (``output.provenance``) of a predict rule's ``{split}``
    predictions: :func:`spectramind.provenance.prediction_record` of ``smk`` (the rule's
    ``snakemake`` object) with the config section ``section`` (or ``section_config``)."""
    from spectramind import provenance

    record = provenance.prediction_record(
        method=method,
        split=smk.wildcards.split,
        section=section,
        section_config=smk.config[section] if section_config is None else section_config,
        config=smk.config,
        inputs=inputs,
    )
    provenance.write_record(record, smk.output.provenance)
