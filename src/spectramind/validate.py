"""Checks of the input data at the boundary: physical ranges, label values, axes, splits, ids.

The checkers are pure: they take what a reader read and return a list of problems, each
naming the row (the CSV line, the header being line 1) and the column, or nothing; the readers
of :mod:`spectramind.io` raise :class:`spectramind.io.DataError` with them, naming the file.
:func:`check_data_root` runs every reader on the small tables of a data root and the
cross-file checks (a planet in two splits, an empty split, labels of planets not on disk); the
workflow calls it when it parses (``workflow/rules/common.smk``), so bad input stops the run
before any job starts. Nothing here imports torch, xarray or numba: it runs at parse time.

Star parameters (``{split}_star_info.csv``) must be physical: ``Rs``, ``Ms``, ``Ts``, ``P``
``> 0``, ``Mp >= 0``, ``sma`` (a/Rs) ``> 1`` (the planet orbits outside its star),
``0 <= e < 1`` (a bound orbit) and ``0 < i < 180`` degrees. An inclination above 90 degrees
is the same orbit seen from the other side: a transit light curve depends on ``i`` only
through ``cos i``'s magnitude (the impact parameter ``b = a cos i / Rs``), so the reader folds
it to ``180 - i`` (:func:`fold_inclination`), the range the transit fit works in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "MAX_PLANET_ID",
    "MAX_TIME_SPAN_H",
    "axis_problems",
    "check_data_root",
    "fold_inclination",
    "frame_problems",
    "label_problems",
    "model_source_problem",
    "planet_id_problem",
    "split_problems",
    "star_problems",
]

#: ids are read through float64 by pandas: above 2**53 they are no longer exact
MAX_PLANET_ID = 2**53
#: an observation of one transit lasts hours (the challenge's: 7.5 h); a time axis spanning
#: more than two days is a column written in seconds (or minutes), not hours
MAX_TIME_SPAN_H = 48.0
#: problems listed in one message (the rest are counted)
MAX_LISTED = 5

#: (column, test, what the value must be) for the star rows
_STAR_RANGES: tuple[tuple[str, str, float], ...] = (
    ("Rs", "gt", 0.0),
    ("Ms", "gt", 0.0),
    ("Ts", "gt", 0.0),
    ("Mp", "ge", 0.0),
    ("P", "gt", 0.0),
    ("sma", "gt", 1.0),
    ("e", "ge", 0.0),
    ("e", "lt", 1.0),
    ("i", "gt", 0.0),
    ("i", "lt", 180.0),
)
_OPS = {
    "gt": (np.greater, ">"),
    "ge": (np.greater_equal, ">="),
    "lt": (np.less, "<"),
}


def _listed(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_LISTED:
        return problems
    return [*problems[:MAX_LISTED], f"and {len(problems) - MAX_LISTED} more"]


def _pid(value: object) -> str:
    """A planet_id cell as written in a message (its integer when it is one)."""
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return repr(value)
    return f"{f:.0f}" if np.isfinite(f) and f == round(f) else repr(value)


def planet_id_problem(name: str) -> str | None:
    """Why ``name`` (a planet folder) is not a planet id, or None: ASCII digits, no leading
    zero (folder ``007`` would be planet 7, whose files live in folder ``7``), below 2**53."""
    if not (name.isascii() and name.isdigit()):
        return "planet folder name is not a numeric planet id"
    if len(name) > 1 and name.startswith("0"):
        return (
            f"planet folder name {name!r} has a leading zero (planet ids are written {int(name)})"
        )
    if int(name) >= MAX_PLANET_ID:
        return f"planet id {name} ({len(name)} digits) is not below 2**53, the largest exact id"
    return None


def fold_inclination(i: np.ndarray) -> np.ndarray:
    """Inclinations (degrees) in (0, 180) folded into (0, 90]: ``i > 90`` becomes ``180 - i``
    (the same impact parameter, the same transit)."""
    i = np.asarray(i, dtype=float)
    return np.where(i > 90.0, 180.0 - i, i)


def star_problems(df: pd.DataFrame) -> list[str]:
    """Out-of-range star parameters of a star table (columns ``planet_id, Rs, ..., i``, all
    finite numbers), one line per bad cell: ``line 3 (planet 17), column sma: 0.5 (must be > 1)``."""
    out = []
    for col, op, bound in _STAR_RANGES:
        values = df[col].to_numpy(dtype=float)
        fn, sym = _OPS[op]
        for r in np.flatnonzero(~fn(values, bound)):
            out.append(
                f"line {r + 2} (planet {_pid(df['planet_id'].iloc[r])}), column {col}: "
                f"{values[r]:g} (must be {sym} {bound:g})"
            )
    return _listed(out)


def label_problems(df: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Label cells that are not finite or not a transit depth ``0 <= (Rp/Rs)^2 < 1``: one line
    per bad row (its first bad column and how many more), at most :data:`MAX_LISTED` rows."""
    values = df[list(columns)].to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values >= 0.0) & (values < 1.0))
    rows = np.flatnonzero(bad.any(axis=1))
    out = []
    for r in rows[:MAX_LISTED]:
        cols = np.flatnonzero(bad[r])
        v = values[r, cols[0]]
        what = "not a depth (Rp/Rs)^2 in [0, 1)" if np.isfinite(v) else "non-finite"
        more = f" (and {cols.size - 1} more columns of this row)" if cols.size > 1 else ""
        out.append(
            f"line {r + 2} (planet {_pid(df['planet_id'].iloc[r])}), column {columns[cols[0]]}: "
            f"{v:g} is {what}{more}"
        )
    if rows.size > MAX_LISTED:
        out.append(f"and {rows.size - MAX_LISTED} more rows")
    return out


def _padded_column(name: str, values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The values of a NaN-padded column before its padding, and its problems: NaN is
    allowed only as trailing padding, infinities never."""
    finite = np.isfinite(values)
    n = int(finite.sum())
    problems = []
    if np.isinf(values).any():
        problems.append(
            f"column {name}: infinite values at rows {np.flatnonzero(np.isinf(values))[:5].tolist()}"
        )
    elif not finite[:n].all():
        gaps = np.flatnonzero(~finite[:n])
        problems.append(
            f"column {name}: NaN at rows {gaps[:5].tolist()} inside the data "
            "(NaN is allowed only as padding after the last value)"
        )
    if n == 0:
        problems.append(f"column {name}: no values")
    return values[finite], problems


def axis_problems(columns: Mapping[str, np.ndarray]) -> list[str]:
    """Problems of the ``axis_info.parquet`` columns (raw, with their NaN padding): times
    strictly increasing and in hours, wavelengths positive and strictly monotonic, integration
    times positive. Lengths against the detector are checked by the reader."""
    out = []
    kept = {}
    for name, values in columns.items():
        kept[name], problems = _padded_column(name, np.asarray(values, dtype=float))
        out += problems
    for name in ("AIRS-CH0-axis0-h", "FGS1-axis0-h"):
        t = kept.get(name)
        if t is None or t.size < 2:
            continue
        steps = np.diff(t)
        if not (steps > 0).all():
            r = int(np.flatnonzero(steps <= 0)[0])
            out.append(
                f"column {name}: times must increase strictly, row {r + 1} ({t[r + 1]:g}) "
                f"follows row {r} ({t[r]:g})"
            )
        elif t[-1] - t[0] > MAX_TIME_SPAN_H:
            out.append(
                f"column {name}: the times span {t[-1] - t[0]:g} h, more than {MAX_TIME_SPAN_H:g} h: "
                "a column in seconds? (axis0-h is in hours)"
            )
    wl = kept.get("AIRS-CH0-axis2-um")
    if wl is not None and wl.size >= 2:
        d = np.diff(wl)
        if (wl <= 0).any() or not ((d > 0).all() or (d < 0).all()):
            out.append(
                "column AIRS-CH0-axis2-um: wavelengths must be positive and strictly monotonic"
            )
    it = kept.get("AIRS-CH0-integration_time")
    if it is not None and (it <= 0).any():
        out.append(
            f"column AIRS-CH0-integration_time: {int((it <= 0).sum())} values <= 0 "
            "(integration times are positive seconds)"
        )
    return out


#: the largest count a uint16 ADC writes: a frame at this value everywhere is saturated
SATURATED_ADU = 65535


def frame_problems(frames: np.ndarray, *, first: int = 0, total: int | None = None) -> list[str]:
    """Frames ``(n, ny, nx)`` (uint16 ADU) that hold no measurement: zero everywhere (a
    dropped read) or at the ADC ceiling everywhere (saturated). The offset puts every real
    pixel well above zero and light never fills every pixel, so neither comes from the sky.

    ``frames`` may be one decoded batch of a longer signal: ``first`` is the index of its
    first frame and ``total`` the signal's frame count (both only word the message)."""
    if frames.shape[0] == 0:
        return []
    hi, lo = frames.max(axis=(1, 2)), frames.min(axis=(1, 2))
    out = []
    for what, bad in (("zero", hi == 0), (f"saturated ({SATURATED_ADU})", lo == SATURATED_ADU)):
        idx = np.flatnonzero(bad) + first
        if idx.size:
            out.append(
                f"{idx.size} of {frames.shape[0] if total is None else total} frames are "
                f"{what} in every pixel (frames {idx[:MAX_LISTED].tolist()})"
            )
    return out


def model_source_problem(splits: Sequence[str], *, checkpoint_given: bool) -> str | None:
    """Why the model can be neither trained nor loaded (no train split, no checkpoint), or
    None. Asked when a target needs the model (a Kaggle run of physics needs none)."""
    if "train" in splits or checkpoint_given:
        return None
    return (
        f"data.splits {list(splits)} has no train split and model.checkpoint is not set: "
        "the model can be neither trained nor loaded (add train to data.splits or set "
        "model.checkpoint)"
    )


def split_problems(planets: Mapping[str, Iterable[int]], *, where: str | Path) -> list[str]:
    """Problems of the configured splits (``{split: planet ids}``): a planet in two splits or
    an empty split."""
    out = []
    seen: dict[int, str] = {}
    for split, ids in planets.items():
        ids = list(ids)
        if not ids:
            out.append(f"split {split!r} of data.splits has no planets in {where}")
        for pid in ids:
            if pid in seen:
                out.append(
                    f"planet {pid} is in two splits ({seen[pid]} and {split}): "
                    "its folder must be in one of them"
                )
            seen[pid] = split
    return out


def check_data_root(
    root: str | Path, splits: Sequence[str], *, checkpoint_given: bool, labels: bool = True
) -> tuple[dict[int, tuple[str, int]], list[str]]:
    """Read and check the small tables of a data root and its planet folders, before any job.

    Returns the planet sheet ``{planet_id: (split, n_visits)}`` and warnings (labels of
    planets that are not on disk: reported, not used by the fits); raises
    :class:`spectramind.io.DataError` naming the file, row and column of the first problem.
    ``labels``: check train.csv against the train planets (when the train split is used).
    """
    from spectramind import io  # io's readers call the checkers above: import it late

    root = Path(root)
    planets = {s: io.list_planets(root, s) for s in splits}
    problems = split_problems(planets, where=root)
    if problems:
        raise io.DataError(root, "; ".join(problems))
    io.read_adc_info(root / "adc_info.csv")
    io.read_axis_info(root / "axis_info.parquet")
    io.read_wavelengths(root / "wavelengths.csv")
    warnings = []
    for split, ids in planets.items():
        path = root / f"{split}_star_info.csv"
        stars = io.read_star_info(path)
        missing = sorted(set(ids) - set(stars.index))
        if missing:
            raise io.DataError(
                path,
                f"no star row for planets {missing[:MAX_LISTED]} ({len(missing)} of {len(ids)})",
            )
    path = root / "train.csv"
    if labels and "train" in planets and (path.is_file() or not checkpoint_given):
        known = set(io.read_labels(path).index)
        train_ids = set(planets["train"])
        missing = sorted(train_ids - known)
        if missing:
            raise io.DataError(
                path,
                f"no labels for train planets {missing[:MAX_LISTED]} ({len(missing)} of {len(train_ids)})",
            )
        extra = sorted(known - train_ids)
        if extra:
            warnings.append(
                f"{path}: {len(extra)} rows for planets not in {root / 'train'} "
                f"({extra[:MAX_LISTED]}): the constant baseline and the score's reference use "
                "every row, the fits only the planets on disk"
            )
    sheet = {
        pid: (split, len(io.list_visits(root, split, pid)))
        for split, ids in planets.items()
        for pid in ids
    }
    return sheet, warnings
