"""Data layer for the NeurIPS 2025 Ariel Data Challenge file layout.

Layout of a data root (the real 247 GB dataset or a simulated one)::

    {root}/adc_info.csv                      gain/offset per instrument
    {root}/axis_info.parquet                 time and wavelength axes (NaN-padded columns)
    {root}/wavelengths.csv                   wl_1..wl_283 (um)
    {root}/{split}_star_info.csv             planet_id,Rs,Ms,Ts,Mp,e,P,sma,i
    {root}/train.csv                         planet_id,wl_1..wl_283  (labels, train split)
    {root}/test_truth.csv                    simulated data only: labels of the test split
    {root}/{split}/{planet_id}/AIRS-CH0_signal_{v}.parquet   uint16, (frames, 32*356)
    {root}/{split}/{planet_id}/FGS1_signal_{v}.parquet       uint16, (frames, 32*32)
    {root}/{split}/{planet_id}/{instrument}_calibration_{v}/{dark,dead,flat,read,linear_corr}.parquet

Every reader checks shapes and dtypes and raises :class:`DataError` naming the file and
what is wrong. Nothing here knows about the workflow or config.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spectramind import validate
from spectramind.atomic import atomic_write
from spectramind.constants import N_BINS

#: detector geometry (rows, columns) per instrument
DETECTOR_SHAPE: dict[str, tuple[int, int]] = {"AIRS-CH0": (32, 356), "FGS1": (32, 32)}
INSTRUMENTS: tuple[str, ...] = ("FGS1", "AIRS-CH0")
#: xarray engine of every product written (HDF5-based NetCDF4 files; the Kaggle image has
#: h5netcdf, not netCDF4). Reading needs no engine: xarray picks an installed one that reads them.
NETCDF_ENGINE: Final = "h5netcdf"
WL_COLUMNS: list[str] = [f"wl_{i}" for i in range(1, N_BINS + 1)]
SIGMA_COLUMNS: list[str] = [f"sigma_{i}" for i in range(1, N_BINS + 1)]
STAR_COLUMNS: list[str] = ["planet_id", "Rs", "Ms", "Ts", "Mp", "e", "P", "sma", "i"]
CALIBRATION_MAPS: tuple[str, ...] = ("dark", "dead", "flat", "read", "linear_corr")
N_LINEARITY_COEFFS = 6
AXIS_COLUMNS: tuple[str, ...] = (
    "AIRS-CH0-axis0-h",
    "AIRS-CH0-axis2-um",
    "AIRS-CH0-integration_time",
    "FGS1-axis0-h",
)

_SIGNAL_RE = re.compile(r"^(?:AIRS-CH0|FGS1)_signal_(\d+)\.parquet$")


class DataError(ValueError):
    """A data file is missing, unreadable or has the wrong shape, dtype or content."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# --------------------------------------------------------------------------- helpers
def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "file not found")


def _read_table(path: str | Path) -> pa.Table:
    path = Path(path)
    _require_file(path)
    try:
        table = pq.read_table(path)
        _ = table.column_names  # decodes the names: corrupt (non-UTF-8) ones raise here, not later
        return table
    except (
        pa.ArrowException,
        OSError,
        UnicodeDecodeError,
    ) as exc:  # truncated, not parquet, corrupt pages/names
        raise DataError(path, f"not a readable parquet file ({exc})") from exc


def _read_csv(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    _require_file(path)
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not a readable CSV file ({exc})") from exc


def _float_values(df: pd.DataFrame | pd.Series, path: str | Path) -> np.ndarray:
    """``df`` as float64; a non-numeric cell is a :class:`DataError` naming the file."""
    try:
        return df.to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DataError(path, f"non-numeric values ({exc})") from exc


#: ids are read through float64: above 2**53 they are no longer exact (and 2**63 overflows int64)
MAX_PLANET_ID = validate.MAX_PLANET_ID


def _planet_ids(values: np.ndarray, path: str | Path) -> np.ndarray:
    """planet_id values as int64; NaN, fractional, negative or too large (>= 2**53) ids are a
    :class:`DataError`."""
    if (
        not np.all(np.isfinite(values))
        or np.any(values != np.round(values))
        or np.any(values < 0)
        or np.any(values >= MAX_PLANET_ID)
    ):
        raise DataError(path, "planet_id values must be non-negative integers below 2**53")
    return values.astype(np.int64)


def column_names(n: int) -> list[str]:
    """Challenge parquet column names ``column_0 .. column_{n-1}``."""
    return [f"column_{i}" for i in range(n)]


def table_to_array(table: pa.Table, dtype: np.dtype, path: str | Path) -> np.ndarray:
    """Stack a parquet table's columns into a (rows, columns) array with one copy.

    Each column is copied once, contiguously, into a column-major buffer; the result is the
    transposed (Fortran-ordered) view of that buffer, so no second pass transposes it.
    Columns with nulls or another dtype raise :class:`DataError`.
    """
    n_rows, n_cols = table.num_rows, table.num_columns
    want = pa.from_numpy_dtype(dtype)
    buf = np.empty((n_cols, n_rows), dtype=dtype)
    for j, col in enumerate(table.columns):
        if col.type != want:
            raise DataError(
                path, f"column {table.column_names[j]!r} has type {col.type}, expected {want}"
            )
        if col.null_count:
            raise DataError(
                path, f"column {table.column_names[j]!r} has {col.null_count} missing values"
            )
        pos = 0
        for chunk in col.chunks:
            n = len(chunk)
            buf[j, pos : pos + n] = chunk.to_numpy(zero_copy_only=False)
            pos += n
    return buf.T


# --------------------------------------------------------------------------- discovery
def list_planets(root: str | Path, split: str) -> list[int]:
    """Planet ids (sorted) of ``{root}/{split}``; a non-numeric folder name is an error."""
    d = Path(root) / split
    if not d.is_dir():
        raise DataError(d, f"split folder {split!r} not found")
    ids = []
    for entry in sorted(d.iterdir()):
        if not entry.is_dir():
            continue
        problem = validate.planet_id_problem(entry.name)
        if problem:
            raise DataError(entry, problem)
        ids.append(int(entry.name))
    return sorted(ids)


def list_visits(root: str | Path, split: str, planet_id: int) -> list[int]:
    """Visit numbers of a planet: each needs both signals and both calibration folders.

    A visit is any ``v`` with a signal file of either instrument, so a visit missing one of
    its two signals is an error naming the missing file, never silently dropped.
    """
    d = Path(root) / split / str(planet_id)
    if not d.is_dir():
        raise DataError(d, "planet folder not found")
    visits = sorted({int(m.group(1)) for p in d.iterdir() if (m := _SIGNAL_RE.match(p.name))})
    if not visits:
        raise DataError(d, "no AIRS-CH0_signal_{v}.parquet found")
    for p in sorted(d.iterdir()):  # a calibration folder without its signals: a lost visit
        m = re.match(r"^(?:AIRS-CH0|FGS1)_calibration_(\d+)$", p.name)
        if m and int(m.group(1)) not in visits:
            raise DataError(
                p,
                f"calibration folder of visit {m.group(1)} without its signal files "
                f"(AIRS-CH0_signal_{m.group(1)}.parquet, FGS1_signal_{m.group(1)}.parquet)",
            )
    for v in visits:
        for inst in ("AIRS-CH0", "FGS1"):
            _require_file(d / f"{inst}_signal_{v}.parquet")
        for inst in INSTRUMENTS:
            cal = d / f"{inst}_calibration_{v}"
            if not cal.is_dir():
                raise DataError(cal, "calibration folder not found")
    return visits


def signal_path(root: str | Path, split: str, planet_id: int, instrument: str, visit: int) -> Path:
    return Path(root) / split / str(planet_id) / f"{instrument}_signal_{visit}.parquet"


def calibration_dir(
    root: str | Path, split: str, planet_id: int, instrument: str, visit: int
) -> Path:
    return Path(root) / split / str(planet_id) / f"{instrument}_calibration_{visit}"


# --------------------------------------------------------------------------- signals
_PARQUET_ERRORS = (pa.ArrowException, OSError, UnicodeDecodeError)


@dataclass(frozen=True)
class SignalFile:
    """An opened, checked raw signal parquet: footer read, nothing decoded yet."""

    path: Path
    file: pq.ParquetFile
    n_frames: int
    shape: tuple[int, int]  # (ny, nx) detector pixels


def open_signal(path: str | Path, instrument: str) -> SignalFile:
    """Open a raw signal parquet and check its footer (no pixel is decoded).

    Raises :class:`DataError` for a missing/corrupt file, a wrong column count, a non uint16
    column or an odd number of frames (reads come in start/end pairs).
    """
    path = Path(path)
    ny, nx = DETECTOR_SHAPE[instrument]
    _require_file(path)
    try:
        pf = pq.ParquetFile(path, pre_buffer=True)
        schema = pf.schema_arrow
        names = schema.names  # decodes the names: corrupt (non-UTF-8) ones raise here
        n_rows = pf.metadata.num_rows
    except _PARQUET_ERRORS as exc:  # truncated, not parquet, corrupt footer/names
        raise DataError(path, f"not a readable parquet file ({exc})") from exc
    if len(names) != ny * nx:
        raise DataError(
            path, f"{len(names)} columns, expected {ny * nx} ({ny}x{nx} pixels per frame)"
        )
    want = pa.uint16()
    for name, kind in zip(names, schema.types, strict=True):
        if kind != want:
            raise DataError(path, f"column {name!r} has type {kind}, expected {want}")
    if n_rows <= 0 or n_rows % 2:
        raise DataError(
            path, f"{n_rows} frames; expected a positive even number (start/end read pairs)"
        )
    return SignalFile(path, pf, int(n_rows), (ny, nx))


def iter_signal(signal: SignalFile) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a signal row group by row group: yields ``(first_frame, frames)``, frames
    uint16 ``(n, ny, nx)`` with ``n`` even (whole start/end pairs: an odd row group's last
    frame moves to the next batch).

    Each row group is decoded by Arrow (its columns in parallel threads) and copied once,
    in C++, into a column-major buffer (:meth:`pyarrow.RecordBatch.to_tensor`): ``frames``
    is a view of that pixel-major buffer (time is the fastest axis). Memory is bounded by
    the row-group size. Nulls or a page that does not decode raise :class:`DataError`
    (after the batches before it were yielded).
    """
    ny, nx = signal.shape
    path, first = signal.path, 0
    pending = np.empty((ny * nx, 0), np.uint16)  # odd last frame of a row group
    try:
        for group in range(signal.file.num_row_groups):
            table = signal.file.read_row_group(group, use_threads=True)
            nulls = [c.null_count for c in table.columns]
            if any(nulls):
                j = next(i for i, n in enumerate(nulls) if n)
                raise DataError(
                    path, f"column {table.column_names[j]!r} has {nulls[j]} missing values"
                )
            for batch in table.to_batches():
                block = batch.to_tensor(row_major=False).to_numpy().T  # (pixels, n), C order
                if pending.shape[1] or block.shape[1] % 2:
                    block = np.concatenate([pending, block], axis=1)
                    keep = block.shape[1] - block.shape[1] % 2
                    block, pending = block[:, :keep], block[:, keep:].copy()
                n = block.shape[1]
                if n:
                    frames = block.T.reshape(n, ny, nx)
                    problems = validate.frame_problems(frames, first=first, total=signal.n_frames)
                    if problems:  # a dropped or saturated read: no measurement to calibrate
                        raise DataError(path, "; ".join(problems))
                    yield first, frames
                    first += n
    except _PARQUET_ERRORS as exc:  # a corrupt or truncated page
        raise DataError(path, f"not a readable parquet file ({exc})") from exc
    if first != signal.n_frames:
        raise DataError(path, f"decoded {first} frames, the footer says {signal.n_frames}")


def read_signal(path: str | Path, instrument: str) -> np.ndarray:
    """Read a raw signal parquet (one frame per row) as uint16 ``(frames, 32, W)``.

    The array is a view of a pixel-major buffer (time is the fastest axis, as the parquet
    columns store it): read chunks of ~32 consecutive frames for cache-friendly access, or
    ``np.ascontiguousarray`` it where a frame-major layout is needed. The batches of
    :func:`iter_signal` are copied into it (for streaming, use that instead).

    Raises :class:`DataError` for a missing/corrupt file, a wrong column count, a non
    uint16 column, nulls, or an odd number of frames (reads come in start/end pairs).
    """
    return read_frames(open_signal(path, instrument))


def read_frames(signal: SignalFile) -> np.ndarray:
    """All frames of an opened signal, uint16 ``(frames, ny, nx)`` (see :func:`read_signal`)."""
    ny, nx = signal.shape
    buf = None
    for first, frames in iter_signal(signal):
        n = frames.shape[0]
        if n == signal.n_frames:  # one row group: the decoded batch is the array (one copy)
            return frames
        if buf is None:
            buf = np.empty((ny * nx, signal.n_frames), np.uint16)
        buf[:, first : first + n] = frames.reshape(n, ny * nx).T
    assert buf is not None  # iter_signal yields all n_frames > 0 frames or raises
    return buf.T.reshape(signal.n_frames, ny, nx)


def write_signal(path: str | Path, frames: np.ndarray) -> None:
    """Write uint16 frames ``(n, 32, W)`` in the challenge layout (one frame per row)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint16 or frames.ndim != 3:
        raise ValueError(f"frames must be uint16 (n, ny, nx), got {frames.dtype} {frames.shape}")
    flat = frames.reshape(frames.shape[0], -1)
    cols = np.ascontiguousarray(flat.T)  # one contiguous buffer per column: zero-copy into arrow
    table = pa.table([pa.array(c) for c in cols], names=column_names(flat.shape[1]))
    _atomic_write_parquet(table, Path(path))


def _atomic_write_parquet(table: pa.Table, path: Path) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="snappy"))


# --------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class CalibrationMaps:
    """Per-visit calibration maps of one instrument (all (32, W) unless stated).

    dark: dark current (counts/s); flat: flat field (~1); read: read noise (counts per read);
    dead: bool, True = dead pixel; linear_corr: (6, 32, W) polynomial c0..c5, lowest power
    first, mapping measured counts to linear counts.
    """

    dark: np.ndarray
    flat: np.ndarray
    read: np.ndarray
    dead: np.ndarray
    linear_corr: np.ndarray


def read_map(path: str | Path, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """Read one calibration parquet into ``shape`` with ``dtype`` checked."""
    table = _read_table(path)
    if (table.num_rows, table.num_columns) != shape:
        raise DataError(path, f"shape {(table.num_rows, table.num_columns)}, expected {shape}")
    return np.ascontiguousarray(table_to_array(table, dtype, path))


def read_calibration(cal_dir: str | Path, instrument: str) -> CalibrationMaps:
    """Read the five calibration maps of ``{instrument}_calibration_{v}/``."""
    cal_dir = Path(cal_dir)
    ny, nx = DETECTOR_SHAPE[instrument]
    f64 = np.dtype(np.float64)
    maps = {m: read_map(cal_dir / f"{m}.parquet", (ny, nx), f64) for m in ("dark", "flat", "read")}
    dead = read_map(cal_dir / "dead.parquet", (ny, nx), np.dtype(np.bool_))
    lin = read_map(cal_dir / "linear_corr.parquet", (N_LINEARITY_COEFFS * ny, nx), f64)
    for name, arr in {**maps, "linear_corr": lin}.items():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad and name != "flat":  # a non-finite flat pixel is flagged later, not fatal
            raise DataError(cal_dir / f"{name}.parquet", f"{bad} non-finite values")
    return CalibrationMaps(
        dark=maps["dark"],
        flat=maps["flat"],
        read=maps["read"],
        dead=dead,
        linear_corr=lin.reshape(N_LINEARITY_COEFFS, ny, nx),
    )


def write_calibration(cal_dir: str | Path, maps: CalibrationMaps) -> None:
    cal_dir = Path(cal_dir)
    ny, nx = maps.dark.shape
    arrays = {
        "dark": maps.dark,
        "flat": maps.flat,
        "read": maps.read,
        "dead": maps.dead,
        "linear_corr": maps.linear_corr.reshape(N_LINEARITY_COEFFS * ny, nx),
    }
    for name, arr in arrays.items():
        cols = np.ascontiguousarray(np.asarray(arr).T)
        table = pa.table([pa.array(c) for c in cols], names=column_names(nx))
        _atomic_write_parquet(table, cal_dir / f"{name}.parquet")


# --------------------------------------------------------------------------- tables
def read_adc_info(path: str | Path) -> dict[str, tuple[float, float]]:
    """``{instrument: (gain, offset)}`` from ``adc_info.csv``."""
    df = _read_csv(path)
    out = {}
    for inst in INSTRUMENTS:
        cols = [f"{inst}_adc_gain", f"{inst}_adc_offset"]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise DataError(path, f"missing columns {missing}")
        if len(df) != 1:
            raise DataError(path, f"{len(df)} data rows, expected exactly one")
        gain, offset = (float(v) for v in _float_values(df[cols].iloc[:1], path)[0])
        if not np.isfinite(gain) or gain <= 0 or not np.isfinite(offset):
            raise DataError(
                path, f"{inst}: gain must be finite and > 0 and offset finite, got {gain}, {offset}"
            )
        out[inst] = (gain, offset)
    return out


@dataclass(frozen=True)
class AxisInfo:
    """Real time and wavelength axes (``axis_info.parquet``, each column NaN-dropped)."""

    airs_time_h: np.ndarray  # (n_airs_frames,)
    airs_wavelength_um: np.ndarray  # (356,), descending
    airs_integration_s: np.ndarray  # (n_airs_frames,), 0.1 / 4.5 alternating
    fgs_time_h: np.ndarray  # (n_fgs_frames,)


def read_axis_info(path: str | Path) -> AxisInfo:
    table = _read_table(path)
    missing = [c for c in AXIS_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(path, f"missing columns {missing}")
    raw = {c: _float_values(table.column(c).to_pandas(), path) for c in AXIS_COLUMNS}
    problems = validate.axis_problems(raw)
    if problems:
        raise DataError(path, "; ".join(problems))
    cols = {c: a[np.isfinite(a)] for c, a in raw.items()}
    if cols["AIRS-CH0-axis2-um"].shape != (DETECTOR_SHAPE["AIRS-CH0"][1],):
        raise DataError(
            path, f"AIRS-CH0-axis2-um has {cols['AIRS-CH0-axis2-um'].size} values, expected 356"
        )
    if cols["AIRS-CH0-axis0-h"].size != cols["AIRS-CH0-integration_time"].size:
        raise DataError(path, "AIRS time and integration-time columns differ in length")
    return AxisInfo(
        airs_time_h=cols["AIRS-CH0-axis0-h"],
        airs_wavelength_um=cols["AIRS-CH0-axis2-um"],
        airs_integration_s=cols["AIRS-CH0-integration_time"],
        fgs_time_h=cols["FGS1-axis0-h"],
    )


def read_star_info(path: str | Path) -> pd.DataFrame:
    """Star/planet rows indexed by integer ``planet_id``; all values finite and physical
    (:func:`spectramind.validate.star_problems`), inclinations above 90 degrees folded to
    ``180 - i`` (:func:`spectramind.validate.fold_inclination`)."""
    df = _read_csv(path)
    if list(df.columns) != STAR_COLUMNS:
        raise DataError(path, f"columns {list(df.columns)}, expected {STAR_COLUMNS}")
    if not np.isfinite(_float_values(df, path)).all():
        raise DataError(path, "non-finite values in star parameters")
    problems = validate.star_problems(df)
    if problems:
        raise DataError(path, "; ".join(problems))
    ids = _planet_ids(df["planet_id"].to_numpy(dtype=float), path)
    df = df.assign(planet_id=ids, i=validate.fold_inclination(df["i"])).set_index("planet_id")
    if df.index.has_duplicates:
        raise DataError(
            path, f"duplicated planet_id {df.index[df.index.duplicated()].tolist()[:5]}"
        )
    return df


def star_row(stars: pd.DataFrame, planet_id: int, path: str | Path) -> pd.Series:
    if planet_id not in stars.index:
        raise DataError(path, f"no star row for planet {planet_id}")
    return stars.loc[planet_id]


def read_wavelengths(path: str | Path) -> np.ndarray:
    """``(283,)`` wavelengths in um (wl_1 = FGS1)."""
    df = _read_csv(path)
    if list(df.columns) != WL_COLUMNS or len(df) != 1:
        raise DataError(path, f"expected one row with columns wl_1..wl_{N_BINS}")
    wl = _float_values(df, path)[0]
    if not np.all(np.isfinite(wl)) or np.any(wl <= 0):
        raise DataError(path, "wavelengths must be finite and positive")
    return wl


def read_labels(path: str | Path) -> pd.DataFrame:
    """Labels ``planet_id, wl_1..wl_283`` as a float DataFrame indexed by planet_id."""
    df = _read_csv(path)
    expected = ["planet_id", *WL_COLUMNS]
    if list(df.columns) != expected:
        missing = [c for c in expected if c not in df.columns]
        extra = [c for c in df.columns if c not in expected]
        raise DataError(
            path,
            f"wrong columns: missing {missing[:5]}, extra {extra[:5]} (expected planet_id, wl_1..wl_{N_BINS})",
        )
    _float_values(df[WL_COLUMNS], path)  # a non-numeric cell: its own message
    problems = validate.label_problems(df, WL_COLUMNS)
    if problems:
        raise DataError(path, "; ".join(problems))
    ids = _planet_ids(_float_values(df["planet_id"], path), path)
    df = df.assign(planet_id=ids).set_index("planet_id")
    if df.index.has_duplicates:
        raise DataError(path, "duplicated planet_id")
    return df
